#pragma once
// What geometry tracking records while a student trains (docs/geometry-tracking.md): plain values,
// written to a seed folder's geometry.jsonl and read back for the Training and Experiments pages.
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/knowledge_quality.h"

namespace kd {

/// When and on what the student's geometry is measured.
struct TrackingSettings {
  bool enabled = false;
  int64_t per_class = 50;     ///< probe samples per class, from the training subset
  /// Caps on the probe (per_class is lowered to fit): at most max_samples in all and at most
  /// max_fraction of the training subset, but never below min_samples. A snapshot's cost grows
  /// with the square of the probe, so the fraction keeps it a small share of a short epoch.
  int64_t max_samples = 500;
  double max_fraction = 0.025;
  int64_t min_samples = 100;
  int64_t every_steps = 0;    ///< also every N optimizer steps within an epoch; 0 = epoch ends only
  uint64_t seed = 0;          ///< of the probe's choice
  std::vector<std::string> class_names;  ///< recorded with the probe (may be empty)
};

/// The name of the file in a seed folder.
inline constexpr const char* kGeometryLogFile = "geometry.jsonl";

/// A teacher layer paired with a student layer, as measured once on the probe.
struct ProbePair {
  int teacher_layer = 0;
  int student_layer = 0;
  std::string teacher_name;
  std::string student_name;
  QualityScores teacher;  ///< S, I, E, Q of the teacher layer on the probe (a probe estimate)
  /// The teacher's target of the pair (as the feature loss sees it) on its own top two principal
  /// axes: x0, y0, x1, y1, ... one point per probe sample.
  std::vector<float> teacher_coords;
};

/// The fixed sample every snapshot is measured on.
struct GeometryProbe {
  int64_t num_classes = 0;
  int64_t n_train = 0;                     ///< the training subset's size (Q's N_train)
  std::vector<int64_t> labels;             ///< per probe sample
  std::vector<std::string> class_names;    ///< the dataset's, when known
  std::vector<std::string> teacher_layers; ///< names of every teacher layer (cka_all's order)
  std::vector<ProbePair> pairs;
};

/// One student layer of a pair at one moment.
struct PairSnapshot {
  QualityScores student;        ///< S, I, E, Q of the student layer on the probe
  double cka = 0;               ///< linear CKA to the paired teacher layer
  std::vector<double> cka_all;  ///< linear CKA to every teacher layer
  double ncc = 0;               ///< nearest-class-center accuracy in [0, 1]
  double feature_loss = 0;      ///< the pair's feature loss on the probe
  /// The student through its projector, on the teacher target's principal axes (as teacher_coords).
  std::vector<float> coords;
};

/// The student's geometry at one moment of training.
struct GeometrySnapshot {
  int epoch = -1;        ///< -1: before training; else the epoch (0-based) it was taken in or after
  int64_t step = 0;      ///< optimizer steps done
  double epochs_done = 0;  ///< step / steps per epoch: where it sits on an epoch axis
  bool partial = false;  ///< taken within the epoch (every_steps), not at its end
  double seconds = 0;    ///< what taking it cost
  std::vector<PairSnapshot> pairs;
};

/// A geometry.jsonl read back.
struct GeometryLog {
  GeometryProbe probe;
  std::vector<GeometrySnapshot> snapshots;  ///< in file order
};

/// The first line of geometry.jsonl ("kind": "probe").
std::string probe_record(const GeometryProbe& probe);
/// A later line ("kind": "snapshot").
std::string snapshot_record(const GeometrySnapshot& snapshot);
/// Reads a geometry.jsonl. A torn last line (a killed run) is skipped; any other malformed line,
/// a missing probe line or a snapshot that does not fit the probe throws kd::Error naming the
/// file and the line.
GeometryLog read_geometry_log(const std::string& path);
/// The same from text; `origin` names it in messages.
GeometryLog parse_geometry_log(const std::string& text, const std::string& origin);

}  // namespace kd
