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

/// Starts `argv` (argv[0] a path) `processes` times, with the environment torchrun gives its
/// workers (MASTER_ADDR=127.0.0.1, a free MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE), sharing this process's stdout and stderr, each in its own process group.
/// SIGINT and SIGTERM are passed on to every rank. When a rank fails, the others are stopped
/// (see LocalLaunchOptions::grace). Writes one line per start and per failure to `log`.
/// Returns 0 when every rank succeeded, else the exit code of the first rank that failed
/// (128 + N for a signal). Throws kd::Error when a rank cannot be started.
int run_local_ranks(const std::vector<std::string>& argv, const LocalLaunchOptions& options, std::ostream& log);

}  // namespace kd
