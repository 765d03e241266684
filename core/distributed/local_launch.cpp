#include "distributed/local_launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <thread>
#include <cstring>
#include <map>
#include <optional>

#include "common/child_process.h"
#include "common/error.h"

extern char** environ;

namespace kd {

namespace {

using Clock = std::chrono::steady_clock;

std::string signal_text(int code) {
  if (code <= 128) return "exited with code " + std::to_string(code);
  const int sig = code - 128;
  const char* name = sigabbrev_np(sig);
  return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
}

/// This process's environment with the rank's variables replaced.
std::vector<std::string> rank_environment(const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** p = environ; p && *p; ++p) {
    const std::string entry(*p);
    const std::string name = entry.substr(0, entry.find('='));
    // A launcher's own variables would confuse the ranks (e.g. an srun step's SLURM_PROCID).
    if (set.count(name) || name == "TORCHELASTIC_USE_AGENT_STORE" || name == "SLURM_STEP_NUM_TASKS") continue;
    env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  return env;
}

/// torchrun's variables for rank `r` of `n` on this machine.
std::map<std::string, std::string> rank_variables(int r, int n, const std::string& port) {
  return {{"MASTER_ADDR", "127.0.0.1"},       {"MASTER_PORT", port},
          {"RANK", std::to_string(r)},        {"WORLD_SIZE", std::to_string(n)},
          {"LOCAL_RANK", std::to_string(r)},  {"LOCAL_WORLD_SIZE", std::to_string(n)},
          {"KDSTUDIO_LAUNCHER", "kdstudio-cli --nproc"}};
}

pid_t spawn_rank(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                 const std::string& log_path = {}) {
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: Ctrl-C reaches it once, through us
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&files, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  }
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &files, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw Error("cannot find a free port for the rendezvous: " + why);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

int run_local_ranks(const std::vector<std::string>& argv, const LocalLaunchOptions& options, std::ostream& log) {
  if (argv.empty()) throw Error("run_local_ranks: no program");
  const int n = options.processes;
  // Signals are taken synchronously below; the ranks start with an empty mask.
  sigset_t watched, previous;
  sigemptyset(&watched);
  for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGHUP}) sigaddset(&watched, s);
  sigprocmask(SIG_BLOCK, &watched, &previous);
  struct Restore {
    sigset_t mask;
    ~Restore() { sigprocmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};

  const std::string port = std::to_string(free_local_port());
  std::map<pid_t, int> rank_of;
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const auto env = rank_environment(rank_variables(r, n, port));
    pid_t pid = 0;
    try {
      pid = spawn_rank(argv, env);
    } catch (const Error&) {
      for (pid_t p : pids) kill(-p, SIGKILL);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      throw;
    }
    pids.push_back(pid);
    rank_of[pid] = r;
  }
  log << "started " << n << " ranks on this machine (pids";
  for (pid_t p : pids) log << " " << p;
  log << "), rendezvous at 127.0.0.1:" << port << std::endl;

  int result = 0;
  int running = n;
  std::optional<Clock::time_point> failed_at;
  bool termed = false, killed = false;
  while (running > 0) {
    // Reap every rank that ended.
    int status = 0;
    pid_t done;
    while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
      const auto it = rank_of.find(done);
      if (it == rank_of.end()) continue;
      --running;
      const int code = exit_code_of(status);
      if (code != 0 && result == 0) {
        result = code;
        failed_at = Clock::now();
        log << "rank " << it->second << " (pid " << done << ") " << signal_text(code)
            << (running > 0 ? "; stopping the other ranks" : "") << std::endl;
      }
      rank_of.erase(it);
    }
    if (running == 0) break;
    if (failed_at) {
      const auto waited = Clock::now() - *failed_at;
      if (!termed && waited > options.grace) {
        for (const auto& [pid, rank] : rank_of) kill(-pid, SIGTERM);
        termed = true;
      } else if (!killed && waited > 2 * options.grace) {
        for (const auto& [pid, rank] : rank_of) kill(-pid, SIGKILL);
        killed = true;
      }
    }
    timespec tick{0, 200'000'000};
    siginfo_t info;
    const int sig = sigtimedwait(&watched, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      for (const auto& [pid, rank] : rank_of) kill(-pid, sig == SIGHUP ? SIGTERM : sig);
    }
  }
  return result;
}

RankProcesses::RankProcesses(const std::vector<std::string>& argv, int first_rank, int world_size, int port,
                             const std::string& log_path) {
  if (argv.empty()) throw Error("RankProcesses: no program");
  for (int r = first_rank; r < world_size; ++r) {
    auto vars = rank_variables(r, world_size, std::to_string(port));
    vars["KDSTUDIO_LAUNCHER"] = "KD Studio";
    ranks_.emplace_back(spawn_rank(argv, rank_environment(vars), log_path), r);
  }
}

RankProcesses::~RankProcesses() {
  if (ranks_.empty()) return;
  for (const auto& [pid, rank] : ranks_) kill(-pid, SIGTERM);
  if (wait(std::chrono::seconds(10)) == "timeout") {
    for (const auto& [pid, rank] : ranks_) kill(-pid, SIGKILL);
    for (const auto& [pid, rank] : ranks_) waitpid(pid, nullptr, 0);
  }
}

std::string RankProcesses::wait(std::chrono::seconds timeout) {
  std::string first_failure;
  const auto end = Clock::now() + timeout;
  while (!ranks_.empty()) {
    for (auto it = ranks_.begin(); it != ranks_.end();) {
      int status = 0;
      if (waitpid(it->first, &status, WNOHANG) == it->first) {
        const int code = exit_code_of(status);
        if (code != 0 && first_failure.empty()) {
          first_failure = "rank " + std::to_string(it->second) + " (pid " + std::to_string(it->first) + ") " +
                          signal_text(code);
        }
        it = ranks_.erase(it);
      } else {
        ++it;
      }
    }
    if (ranks_.empty()) break;
    if (Clock::now() > end) return "timeout";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return first_failure;
}

}  // namespace kd
