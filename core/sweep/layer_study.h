#pragma once
// The layer-choice study (docs/sweeps.md): does distilling from the teacher layers with the
// highest knowledge quality Q help on the user's data? One sweep trains the base experiment with
// the Q layers, the standard layers, the S, I, E and sqrt(I*E) choices (method.md section 2) and
// a few seeded random layer sets, N seeds each; the report relates each choice's accuracy to the
// mean Q of its teacher layers (Spearman's rank correlation) and says in words whether the Q
// layers beat the standard ones.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment_config.h"
#include "experiment/experiment_setup.h"
#include "sweep/sweep_folder.h"

namespace kd {

/// File in the sweep folder with the teacher's per-layer scores.
inline constexpr const char* kStudyLayersFile = "study.json";

/// How large the study is.
struct LayerStudyOptions {
  int seeds = 3;             ///< seeds per layer choice
  int random_sets = 3;       ///< seeded random sets of k teacher layers
  uint64_t random_seed = 0;  ///< draws the random sets
};

/// A teacher layer's scores from the layer analysis.
struct StudyLayer {
  int index = 0;
  std::string name;
  double quality = 0, separation = 0, information = 0, efficiency = 0;
};

/// Throws kd::Error when `base`'s method distils no teacher layers (nothing for the study to vary).
void check_layer_study_base(const ExperimentConfig& base);

/// The study's sweep file (JSON): `base_json` (an experiment of a method that distils teacher
/// layers) with its teacher_layers set to "Q", "standard", "S", "I", "E", "sqrtIE" and
/// `random_sets` distinct sorted random sets of k layers, crossed with `seeds` seeds from the
/// base's seed (each point one seed). Throws kd::Error when the method distils no teacher
/// layers or k exceeds the teacher's layers.
std::string layer_study_sweep(const std::string& name, const std::string& base_json,
                              const std::vector<StudyLayer>& layers,
                              const LayerStudyOptions& options);

/// The teacher's layer scores for `base`: the layer analysis its "Q" choice runs (read from the
/// analysis cache when there, so the study's points reuse it). Throws kd::Cancelled when
/// `progress` cancels, kd::Error as prepare_experiment does.
std::vector<StudyLayer> analyse_study_teacher(const ExperimentConfig& base,
                                              const PrepareOptions& options = {},
                                              ProgressSink* progress = nullptr);

/// The study's default name: "<experiment name>-study" ("layers-study" without a name).
std::string layer_study_name(const ExperimentConfig& base);

/// Creates (or reopens, when it holds this same study) the study's sweep folder
/// <out_root>/<name> and its study.json. Throws kd::Error as check_layer_study_base,
/// layer_study_sweep and SweepFolder::create do.
SweepFolder create_layer_study(const ExperimentConfig& base, const std::vector<StudyLayer>& layers,
                               const LayerStudyOptions& options, const std::string& name,
                               const std::string& out_root);

/// study.json of a sweep folder: writing (atomically) and reading back.
void write_study_layers(const std::string& sweep_dir, const std::vector<StudyLayer>& layers);
std::vector<StudyLayer> read_study_layers(const std::string& sweep_dir);

/// One layer choice of the study and what it achieved.
struct StudyRow {
  std::string choice;       ///< "Q", "standard", "S", "I", "E", "sqrtIE" or "[1,4,6,8]"
  std::vector<int> layers;  ///< the teacher layers it trained with (from the runs), when known
  std::optional<double> mean_q;  ///< mean Q of those layers
  int seeds = 0;                 ///< finished seeds
  std::optional<double> acc_mean, acc_std;  ///< best test accuracy, percent, over seeds
};

/// The study's outcome.
struct StudyReport {
  std::vector<StudyRow> rows;
  std::optional<double> spearman;  ///< accuracy vs mean Q over rows with both (3 or more)
  std::string verdict;             ///< in plain words
};

/// Spearman's rank correlation (average ranks for ties); NaN when a side is constant. Throws
/// kd::Error for lists of different lengths or fewer than 2 values.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

/// The report as JSON: rows (choice, layers, mean_q, seeds, acc_mean, acc_std; null where
/// unknown), spearman (null when undefined) and verdict.
std::string layer_study_report_json(const StudyReport& report);

/// The report of a study's sweep folder (finished points only; partial while it runs).
StudyReport layer_study_report(const SweepStatus& status, const std::vector<StudyLayer>& layers);

}  // namespace kd
