#pragma once
// Runs a sweep's points on this machine: a queue of N processes (kdstudio-cli sweep run-point),
// each point in its own process with its output in the point's log.txt. A crash of one point
// cannot take the others down, and a stopped queue continues where it was when run again.
#include <string>
#include <vector>

#include "sweep/sweep_folder.h"

namespace kd {

/// How the queue starts its processes.
struct QueueOptions {
  int jobs = 1;            ///< points run at once
  std::string executable;  ///< the kdstudio-cli binary that runs a point
  /// Extra arguments of each `sweep run-point` (e.g. {"--device", "cpu"}).
  std::vector<std::string> point_args;
  int threads_per_job = 0;  ///< CPU threads of each process; 0 = the cores shared out evenly
};

/// Receives the queue's events, on the thread that runs the queue.
class QueueObserver {
 public:
  virtual ~QueueObserver() = default;
  virtual void on_point_started(const PointInfo& /*point*/, int /*pid*/) {}
  /// A point's process ended; `status` is the point's status read afterwards.
  virtual void on_point_finished(const PointStatus& /*status*/, int /*exit_code*/) {}
  /// Polled a few times a second; true stops the queue: running points get SIGTERM, write
  /// their checkpoint state and end; nothing new starts.
  virtual bool cancelled() const { return false; }
};

/// What a queue run did.
struct QueueOutcome {
  int started = 0, done = 0, failed = 0, interrupted = 0;
  int elsewhere = 0;     ///< points skipped because another process runs them
  bool stopped = false;  ///< the observer cancelled
};

/// The arguments that start point `index` ({executable, --threads, T, sweep, run-point, ...}).
std::vector<std::string> point_command(const SweepFolder& folder, int index,
                                       const QueueOptions& options);

/// Runs every point that is not done and not running elsewhere, options.jobs at a time, in
/// index order (interrupted and failed points too: they resume or retry). Returns when all have
/// ended, or, after a cancel, when the running ones have stopped. Throws kd::Error when a
/// process cannot be started (those already running are stopped first).
QueueOutcome run_sweep_queue(const SweepFolder& folder, const QueueOptions& options,
                             QueueObserver* observer = nullptr);

}  // namespace kd
