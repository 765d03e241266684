#pragma once
// Several ranks of one run on this machine, started by KD Studio itself (kdstudio-cli train
// --nproc N), the way `torchrun --standalone --nproc-per-node N` starts them.
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace kd {

/// How run_local_ranks() starts and watches its ranks.
struct LocalLaunchOptions {
  int processes = 2;
  /// After a rank fails, how long the others get to stop by themselves (they notice at their
  /// next collective) before they are sent SIGTERM, and as long again before SIGKILL.
  std::chrono::seconds grace{10};
};

/// A free TCP port on the loopback interface (for the rendezvous).
int free_local_port();

/// Ranks first_rank .. world_size - 1 of a run on this machine, as processes of `argv` with
/// torchrun's environment (rendezvous at 127.0.0.1:port), stdout and stderr appended to
/// `log_path`. Used where this process itself is rank 0 (the desktop app). The destructor
/// stops (SIGTERM, then SIGKILL after 10 s) and reaps the ranks still running.
class RankProcesses {
 public:
  /// Throws kd::Error when a rank cannot be started (the ones started are stopped).
  RankProcesses(const std::vector<std::string>& argv, int first_rank, int world_size, int port,
                const std::string& log_path);
  ~RankProcesses();
  RankProcesses(const RankProcesses&) = delete;
  RankProcesses& operator=(const RankProcesses&) = delete;

  /// Waits up to `timeout` for every rank to end; returns "" when all succeeded, else what
  /// happened to the first that did not ("rank 1 (pid 123) was killed by signal 9 (SIGKILL)").
  std::string wait(std::chrono::seconds timeout);

 private:
  std::vector<std::pair<int, int>> ranks_;  // (pid, rank), running
};

/// Starts `argv` (argv[0] a path) `processes` times, with the environment torchrun gives its
/// workers (MASTER_ADDR=127.0.0.1, a free MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE), sharing this process's stdout and stderr, each in its own process group.
/// SIGINT and SIGTERM are passed on to every rank. When a rank fails, the others are stopped
/// (see LocalLaunchOptions::grace). Writes one line per start and per failure to `log`.
/// Returns 0 when every rank succeeded, else the exit code of the first rank that failed
/// (128 + N for a signal). Throws kd::Error when a rank cannot be started.
int run_local_ranks(const std::vector<std::string>& argv, const LocalLaunchOptions& options, std::ostream& log);

}  // namespace kd
