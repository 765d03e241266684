#pragma once
// A sweep's folder (docs/sweeps.md): the sweep as given, its expanded grid and one folder per
// point holding the point's experiment and its ordinary run folder. Every status is read from
// the folders, so a sweep run by several processes, a Slurm job array or the app looks the same
// from anywhere.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment_runner.h"
#include "experiment/run_store.h"
#include "sweep/sweep_spec.h"

namespace kd {

/// File names inside a sweep folder.
inline constexpr const char* kSweepFile = "sweep.json";          ///< the sweep file as given
inline constexpr const char* kSweepPointsFile = "points.json";   ///< the expanded grid
inline constexpr const char* kPointExperimentFile = "experiment.json";
inline constexpr const char* kPointRunningFile = "running.json";  ///< while a process runs it
inline constexpr const char* kPointFailedFile = "failed.json";    ///< the last run's error
inline constexpr const char* kPointLogFile = "log.txt";           ///< output of queued runs

/// Where a point stands.
enum class PointState { kPending, kRunning, kInterrupted, kDone, kFailed };

/// "pending", "running", "interrupted", "done", "failed".
const char* point_state_name(PointState state);

/// A point of a sweep folder as points.json lists it.
struct PointInfo {
  int index = 0;
  std::string label, group;
  std::vector<SweepSetting> settings;
};

/// A point's status, read from its folder.
struct PointStatus {
  PointInfo point;
  PointState state = PointState::kPending;
  /// failed: the error; running: who runs it ("pid 123 on node1", "Slurm job 77_3");
  /// interrupted: how far the run got ("partial: epoch 3/10 of seed 0").
  std::string detail;
  std::string run_dir;              ///< the point's run folder, once it exists
  std::optional<RunSummary> run;    ///< its summary, once it exists
};

/// Every point's status.
struct SweepStatus {
  std::string dir, name;
  std::vector<PointStatus> points;
  int count(PointState state) const;
};

/// A sweep folder on disk.
class SweepFolder {
 public:
  /// The folder <out_root>/<sweep name>: created for `sweep` (written under a temporary name and
  /// renamed, so nothing is half-written), or reopened when it holds this same sweep. Throws
  /// kd::Error when it holds another sweep, or is not a sweep folder and not empty.
  static SweepFolder create(const Sweep& sweep, const std::string& sweep_text,
                            const std::string& out_root);
  /// Opens an existing sweep folder; throws kd::Error naming what is missing or damaged.
  static SweepFolder open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::string& name() const { return name_; }
  int size() const { return static_cast<int>(points_.size()); }
  const std::vector<PointInfo>& points() const { return points_; }
  /// The folder of point `index` ("<dir>/point-0003"); throws kd::Error for an index outside
  /// the grid.
  std::string point_dir(int index) const;
  /// Reads every point's status from its folder; never throws for a damaged point (it reads as
  /// failed with the reason).
  SweepStatus status() const;
  PointStatus point_status(int index) const;

 private:
  SweepFolder(std::string dir, std::string name, std::vector<PointInfo> points)
      : dir_(std::move(dir)), name_(std::move(name)), points_(std::move(points)) {}
  std::string dir_, name_;
  std::vector<PointInfo> points_;
};

/// `what` as a sweep folder (opened), or as a sweep file: its folder created under `out_root`
/// (or reopened when it holds this same sweep). Throws kd::Error as open and create do.
SweepFolder open_or_create_sweep(const std::string& what, const std::string& out_root);

/// True when `dir` holds a sweep (its points.json).
bool is_sweep_folder(const std::string& dir);

/// Runs point `index` in this process: marks it running (running.json: pid, host, Slurm job),
/// trains it, resuming its run folder when one exists, and records an error in failed.json
/// before rethrowing it. Throws kd::Error when another live process on this host runs the point,
/// kd::Cancelled when the observer stops it (the checkpoint stays; the point reads as
/// interrupted). `before_training`, when given, sees the prepared runner (e.g. to print the plan).
ExperimentResult run_sweep_point(
    const SweepFolder& folder, int index, const PrepareOptions& options = {},
    TrainObserver* observer = nullptr, ProgressSink* prepare_progress = nullptr,
    const std::function<void(const ExperimentRunner&)>& before_training = {});

}  // namespace kd
