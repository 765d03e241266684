#pragma once
// The experiment a user describes (docs/experiments.md): what they typed, with defaults, before
// models are opened. ExperimentResolver turns it into the fully explicit ResolvedExperiment the
// trainer runs. Options the user edits stay separate from the resolved configuration.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/knowledge_quality.h"
#include "distill/method.h"

namespace kd {

/// How a side's distilled layers are chosen.
struct LayerChoice {
  enum class Kind {
    kExplicit,   ///< the given indices
    kStandard,   ///< the standard choice of method.md section 5 for the architecture
    kCriterion,  ///< teacher only: the top k layers by a score of the layer analysis
  };
  Kind kind = Kind::kStandard;
  std::vector<int> indices;                                    ///< for kExplicit
  SelectionCriterion criterion = SelectionCriterion::kQuality;  ///< for kCriterion
};

/// Format marker of our experiment files ("format" key).
inline constexpr const char* kExperimentFormat = "kdstudio-experiment";
/// Schema version we write and the newest we read.
inline constexpr int kExperimentVersion = 1;

/// An experiment as the user wrote it. Every field has the default documented in
/// docs/experiments.md; optional fields are filled in by the resolver from the models.
struct ExperimentConfig {
  std::string name;  ///< free label, used in the run folder's name; empty = the method's name

  // Data
  std::string dataset = "fashion-mnist";  ///< a data spec (core/data/data_spec.h)
  int64_t train_per_class = 0;  ///< class-balanced training subset per class; 0 = whole split
  int64_t test_per_class = 0;   ///< class-balanced test subset per class; 0 = whole split
  bool augment = false;         ///< random crop (padding 4) + horizontal flip

  // Models
  std::string teacher;  ///< model spec or file; empty = no teacher (only method "student")
  std::string student;  ///< model spec or file; required

  // Method
  Method method = Method::kOurs;
  /// Teacher layers; unset = by Q for ours/ours_ce/ours_kd, standard for the other methods.
  std::optional<LayerChoice> teacher_layers;
  /// Student layers; unset = standard.
  std::optional<LayerChoice> student_layers;
  int num_layers = 4;  ///< k: layers per side when not given explicitly
  std::string projector = "SingleLayerConv";  ///< or "ThreeLayerConv"
  double temperature = 4.0;
  double ce_weight = 1.0;
  double kd_weight = 1.0;
  double feature_weight = 1.0;

  // Optimizer and schedule (method.md section 6)
  std::string optimizer = "adamw";     ///< "adamw" or "sgd"
  std::optional<double> lr;            ///< peak LR; unset = by the student's family
  std::optional<double> weight_decay;  ///< unset = 0.01 (adamw) or 5e-4 (sgd)
  double momentum = 0.9;               ///< sgd only
  std::string schedule = "onecycle";   ///< "onecycle", "multistep" or "constant"
  double pct_start = 0.3;              ///< onecycle
  std::vector<int64_t> milestones;     ///< multistep epochs; empty = 150/180/210 scaled to epochs
  double gamma = 0.1;                  ///< multistep factor
  int epochs = 50;
  int64_t batch_size = 128;
  int seeds = 3;       ///< runs with seeds seed, seed+1, ...
  uint64_t seed = 0;

  // Execution
  std::string device = "auto";          ///< "auto", "cpu", "cuda", "cuda:N"
  bool mixed_precision = false;         ///< bf16 autocast on CUDA
  bool cuda_graphs = true;              ///< capture and replay the training step on CUDA (core/graphs)
  std::string teacher_cache = "auto";   ///< "auto", "memory", "disk" or "off"
  bool cache_fp16 = false;              ///< store cached teacher targets as float16
  int64_t analysis_per_class = 0;       ///< sample A per class for Q selection; 0 = 5000 / C
  uint64_t analysis_seed = 0;           ///< seed of the analysis samples
  int log_every = 10;                   ///< steps between progress reports and step metrics

  // Geometry tracking (docs/geometry-tracking.md); does not change the numbers
  bool track_geometry = false;       ///< measure the student's layers on a probe sample per epoch
  int64_t geometry_every = 0;        ///< also every N steps within an epoch; 0 = epoch ends only
  int64_t geometry_per_class = 50;   ///< probe samples per class (500 at most in all)
};

/// Reads our JSON schema. Unknown keys, wrong types and out-of-range values throw kd::Error
/// naming the key (e.g. "epochs: expected a positive integer, got -3"). `origin` names the file
/// in messages.
ExperimentConfig experiment_from_json(const std::string& text, const std::string& origin);

/// True for a key of our experiment schema ("format" and "version" included).
bool is_experiment_key(const std::string& key);

/// "unknown key 'methd' (did you mean 'method'?)": the message experiment_from_json gives.
std::string unknown_experiment_key_message(const std::string& key);

/// Writes our JSON schema (every field, optional ones only when set).
std::string experiment_to_json(const ExperimentConfig& config, int indent = 2);

/// Checks what can be checked without opening models or data (e.g. a method that needs a
/// teacher without one, explicit layer lists of different lengths, epochs < 1, k < 1,
/// milestones out of range). Throws kd::Error with every problem found, one per line.
void validate_experiment(const ExperimentConfig& config);

/// A paper (KD_wo_CE) config translated to ours, with what the user should know.
struct ImportedExperiment {
  ExperimentConfig config;
  std::vector<std::string> notes;  ///< e.g. "Teacher 'ResNet34' is an architecture: pass a trained teacher file"
};

/// True when the JSON looks like one of the paper's configs (its characteristic keys).
bool is_paper_config(const std::string& text);

/// Translates a config of the authors' KD_wo_CE code (method.md section 7). Keys we do not
/// support throw kd::Error naming each one and why; CIFAR10/CIFAR100F map to our cifar10/cifar100
/// specs, model names to our zoo.
ImportedExperiment import_paper_config(const std::string& text, const std::string& origin);

/// Reads a config file of either kind (ours or the paper's); notes from the import go to
/// `notes` when given.
ExperimentConfig load_experiment_file(const std::string& path,
                                      std::vector<std::string>* notes = nullptr);

}  // namespace kd
