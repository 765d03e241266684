#pragma once
// A sweep's results grouped by sweep point: points that differ only by seed are pooled, each
// group's finished seeds giving mean +- std (ddof 0, as result.json). For the CLI's tables, CSV
// export and the app.
#include <optional>
#include <string>
#include <vector>

#include "sweep/sweep_folder.h"

namespace kd {

/// The points of a sweep that differ only by seed, and their pooled results.
struct SweepGroup {
  std::string group;                   ///< the points' label without the seed
  std::vector<SweepSetting> settings;  ///< the settings they share (every axis but seed)
  std::vector<int> points;             ///< their indices
  int points_done = 0;
  int seeds = 0;  ///< finished seeds pooled (over the points' run folders)
  std::optional<double> best_mean, best_std, last_mean, last_std;  ///< percent
};

/// The groups in order of their first point.
std::vector<SweepGroup> group_results(const SweepStatus& status);

/// One CSV row per group: `group,<each varied key but seed>,points,points_done,seeds,best_mean,
/// best_std,last_mean,last_std` (empty cells where nothing finished yet).
std::string sweep_csv(const SweepStatus& status);

/// The status as JSON: name, dir, counts by state, points (index, label, group, settings,
/// status, detail, run_dir, results) and groups.
std::string sweep_status_json(const SweepStatus& status);

}  // namespace kd
