#pragma once
// From what the user wrote to what the trainer runs: opens the dataset and the models, checks
// that they fit together, and makes every choice explicit (layers, LR, weight decay, device).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/layer_analyzer.h"
#include "common/progress.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "experiment/experiment_config.h"
#include "models/model_loader.h"

namespace kd {

/// Overrides applied while preparing (command-line options, GUI settings).
struct PrepareOptions {
  std::optional<std::string> device;  ///< replaces config.device
  std::optional<int> seeds;           ///< replaces config.seeds
  bool analysis_cache = true;         ///< reuse cached layer analyses for Q selection
};

/// An experiment ready to train: the resolved configuration and what was loaded for it.
struct PreparedExperiment {
  /// Fully explicit: layer choices are index lists, lr/weight_decay/milestones are set, the
  /// overrides applied. Its JSON is the run folder's resolved.json and its hash names the folder.
  ExperimentConfig resolved;
  std::string device;              ///< the torch device string in use ("cpu", "cuda:0")
  std::string device_description;  ///< for people, e.g. "CPU (2 threads)"
  std::vector<std::string> notes;  ///< what the user should know (untrained teacher, ...)

  Dataset data;
  ChannelStats stats;  ///< of the training split (or subset)
  std::vector<int64_t> train_indices, test_indices;

  LoadedModel teacher;  ///< model is null when the method has no teacher
  ModelOrigin student_origin = ModelOrigin::kZoo;
  std::string student_architecture;
  std::optional<AnalysisResult> analysis;  ///< when teacher layers were chosen by a score
  double analysis_seconds = 0;
};

/// Loads and checks everything; errors name the setting at fault (unknown model, layer index
/// out of range, teacher and student with different class counts, images that do not fit a
/// model, ...), all of them when there are several independent ones.
PreparedExperiment prepare_experiment(const ExperimentConfig& config,
                                      const PrepareOptions& options = {},
                                      ProgressSink* progress = nullptr);

/// A freshly initialised student for `seed`: a zoo student is built with that seed; a student
/// from a file starts from the file's weights for every seed.
std::unique_ptr<LayeredModel> build_student(const PreparedExperiment& prepared, uint64_t seed);

/// A second, trainable copy of the teacher (SimKD's tail).
std::unique_ptr<LayeredModel> copy_teacher(const PreparedExperiment& prepared);

/// Hex digest (8 characters) of the resolved configuration, ignoring settings that do not
/// change the numbers (device, log interval, cache placement).
std::string experiment_hash(const ExperimentConfig& resolved);

/// The demo's budget on the bundled Fashion-MNIST teacher (kdstudio-cli demo and the app's
/// first-run defaults): epochs and training images per class chosen so that ours, trained by
/// feature losses only, has settled when it is compared with the student alone, in about three
/// minutes for the demo's four trainings on 2 CPU cores (docs/cli.md, "demo", has the curves).
inline constexpr int kDemoEpochs = 15;
inline constexpr int64_t kDemoPerClass = 600;

/// Default peak LR for a student architecture and optimizer (method.md section 6).
double default_lr(const std::string& student_architecture, const std::string& optimizer);

}  // namespace kd
