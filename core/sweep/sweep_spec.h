#pragma once
// Sweep files (docs/sweeps.md): a base experiment and the axes it varies along. Axes expand to
// their product; a "zip" group varies its keys together. Each point of the grid is an ordinary
// experiment (our schema), checked as one when the sweep is read.
#include <cstdint>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"

namespace kd {

/// Format marker of sweep files ("format" key).
inline constexpr const char* kSweepFormat = "kdstudio-sweep";
/// Schema version we write and the newest we read.
inline constexpr int kSweepVersion = 1;
/// Largest grid a sweep may expand to (more is almost always a mistake in an axis).
inline constexpr int64_t kMaxSweepPoints = 10000;

/// One experiment key a point sets over the base, its value as compact JSON.
struct SweepSetting {
  std::string key;
  std::string value;  ///< compact JSON ("\"kd\"", "3", "[1,2,3]")
};

/// One point of the expanded grid.
struct SweepPoint {
  int index = 0;                      ///< 0-based, in expansion order
  std::vector<SweepSetting> settings;  ///< what it sets over the base, in axis order
  std::string label;                  ///< "method=kd seed=1"; "base" when nothing is set
  /// The label without the seed axis: points that differ only by seed share it (their results
  /// are pooled into mean +- std).
  std::string group;
  ExperimentConfig config;   ///< the point's experiment, validated
  std::string config_json;   ///< the point's experiment file (base with the settings applied)
};

/// A sweep as read from its file, expanded.
struct Sweep {
  std::string name;       ///< the file's "name", else the file's stem
  std::string base_json;  ///< the base experiment (our schema)
  std::vector<std::string> axis_keys;  ///< every key the sweep varies, in file order
  std::vector<SweepPoint> points;
};

/// Reads and expands a sweep. `origin` names the file in messages; `base_dir` resolves a base
/// given as a path. Throws kd::Error naming every problem: an unknown key (with a "did you mean"),
/// an empty axis, zip lists of different lengths, a key set twice, more than kMaxSweepPoints
/// points, a point that is not a valid experiment (naming the point).
Sweep sweep_from_json(const std::string& text, const std::string& origin,
                      const std::string& base_dir = ".");

/// Reads a sweep file (base paths relative to the file's folder).
Sweep load_sweep_file(const std::string& path);

/// A setting's value as shown in labels: strings without quotes, anything else as JSON.
std::string setting_text(const SweepSetting& setting);

}  // namespace kd
