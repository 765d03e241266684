#include "sweep/sweep_queue.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <map>
#include <thread>

#include "common/error.h"
#include "common/child_process.h"

namespace kd {
namespace {

/// How often the queue looks at its processes and the cancel flag.
constexpr auto kPollInterval = std::chrono::milliseconds(100);

int cpu_cores() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

/// Waits for `pid` without blocking; true and the exit code when it has ended.
bool reap(int pid, int& exit_code) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    exit_code = exit_code_of(status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {  // reaped elsewhere: the status is lost
    exit_code = 1;
    return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> point_command(const SweepFolder& folder, int index,
                                       const QueueOptions& options) {
  const int jobs = std::max(1, options.jobs);
  const int threads =
      options.threads_per_job > 0 ? options.threads_per_job : std::max(1, cpu_cores() / jobs);
  std::vector<std::string> argv = {options.executable, "--threads", std::to_string(threads),
                                   "sweep", "run-point", folder.dir(), std::to_string(index)};
  argv.insert(argv.end(), options.point_args.begin(), options.point_args.end());
  return argv;
}

QueueOutcome run_sweep_queue(const SweepFolder& folder, const QueueOptions& options,
                             QueueObserver* observer) {
  if (options.executable.empty()) throw Error("the sweep queue needs the kdstudio-cli program");
  QueueOutcome outcome;
  std::vector<int> todo;
  for (const PointStatus& s : folder.status().points) {
    if (s.state == PointState::kDone) continue;
    if (s.state == PointState::kRunning) {
      ++outcome.elsewhere;
      continue;
    }
    todo.push_back(s.point.index);
  }
  std::map<int, int> running;  // pid -> point index
  size_t next = 0;
  const auto stop_all = [&](int signal) {
    for (const auto& [pid, index] : running) ::kill(-pid, signal);
  };
  const auto finished = [&](int pid, int index, int exit_code) {
    running.erase(pid);
    const PointStatus status = folder.point_status(index);
    if (status.state == PointState::kDone) ++outcome.done;
    else if (status.state == PointState::kFailed) ++outcome.failed;
    else ++outcome.interrupted;
    if (observer) observer->on_point_finished(status, exit_code);
  };
  while (next < todo.size() || !running.empty()) {
    if (!outcome.stopped && observer && observer->cancelled()) {
      outcome.stopped = true;
      stop_all(SIGTERM);
    }
    while (!outcome.stopped && next < todo.size() &&
           static_cast<int>(running.size()) < std::max(1, options.jobs)) {
      const int index = todo[next++];
      int pid = 0;
      try {
        pid = start_logged_process(point_command(folder, index, options),
                                   folder.point_dir(index) + "/" + kPointLogFile);
      } catch (const Error&) {
        stop_all(SIGTERM);
        for (const auto& [p, i] : running) {
          int status = 0;
          ::waitpid(p, &status, 0);
        }
        throw;
      }
      running[pid] = index;
      ++outcome.started;
      if (observer) observer->on_point_started(folder.points()[static_cast<size_t>(index)], pid);
    }
    if (outcome.stopped && next < todo.size()) next = todo.size();
    for (auto it = running.begin(); it != running.end();) {
      const auto [pid, index] = *it++;
      int exit_code = 0;
      if (reap(pid, exit_code)) finished(pid, index, exit_code);
    }
    if (!running.empty() || next < todo.size()) std::this_thread::sleep_for(kPollInterval);
  }
  return outcome;
}

}  // namespace kd
