#pragma once
// The training loop shared by every method (method.md section 6): one seed of an experiment,
// with progress reports, pause/cancel, per-epoch atomic checkpoints and deterministic resume.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "io/safetensors.h"
#include "distill/distill_objective.h"
#include "distill/teacher_targets.h"
#include "tracking/geometry_log.h"

namespace kd {

class CapturedStep;
class Communicator;
class GeometryTracker;
class GradientSync;

/// Loss component values by name ("ce", "kd", "feat", ...), in the objective's order.
using LossValues = std::vector<std::pair<std::string, double>>;

/// Progress within an epoch, sent every `log_every` steps and at the end of each epoch.
struct StepReport {
  int epoch = 0;             ///< 0-based
  int epochs = 0;
  int64_t step = 0;          ///< global optimizer steps done
  int64_t total_steps = 0;
  int64_t batch = 0;         ///< batches done in this epoch
  int64_t batches = 0;       ///< batches per epoch
  double lr = 0;
  double loss = 0;           ///< weighted total, mean over the interval
  LossValues losses;         ///< unweighted components, mean over the interval
  double train_acc = 0;      ///< percent, over the interval
  double images_per_second = 0;
  double eta_seconds = 0;    ///< for this seed
};

/// The result of an epoch, after evaluation on the test split.
struct EpochReport {
  int epoch = 0;  ///< 0-based
  int epochs = 0;
  double loss = 0;  ///< weighted total, mean over the epoch
  LossValues losses;
  double train_acc = 0;  ///< percent, on the training batches as they were trained
  double test_acc = 0;   ///< percent
  double test_loss = 0;  ///< cross entropy on the test split
  double lr = 0;         ///< LR of the epoch's last step
  double seconds = 0;    ///< training and evaluation time of the epoch
  bool best = false;     ///< test_acc is the best so far
};

/// Receives a trainer's progress; called on the training thread. Pause and cancel are polled
/// before every batch.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  /// A preparation stage (e.g. caching teacher targets) with its progress in [0, 1].
  virtual void on_stage(const std::string& /*what*/, double /*fraction*/) {}
  virtual void on_step(const StepReport& /*report*/) {}
  virtual void on_epoch(const EpochReport& /*report*/) {}
  /// Training of seed number `index` (0-based) of `count` begins.
  virtual void on_seed(int /*index*/, int /*count*/, uint64_t /*seed*/) {}
  /// Geometry tracking (TrainerSettings::tracking): the probe, once per seed before its first
  /// snapshot; then every snapshot as it is taken (on a resume, the earlier ones first).
  virtual void on_geometry_probe(const GeometryProbe& /*probe*/) {}
  virtual void on_geometry(const GeometrySnapshot& /*snapshot*/) {}
  /// A message for the user (e.g. "resuming from epoch 3").
  virtual void on_note(const std::string& /*text*/) {}
  /// True stops training at the next batch with kd::Cancelled (the last checkpoint stays).
  virtual bool cancelled() const { return false; }
  /// While true, training waits before the next batch.
  virtual bool paused() const { return false; }
};

/// How a seed is trained (the resolved experiment's training settings).
struct TrainerSettings {
  ObjectiveSettings objective;
  std::string optimizer = "adamw";  ///< "adamw" or "sgd"
  double lr = 0.0075;               ///< peak LR (one-cycle) or base LR
  double weight_decay = 0.01;
  double momentum = 0.9;            ///< SGD momentum (one-cycle cycles it)
  std::string schedule = "onecycle";  ///< "onecycle", "multistep", "constant"
  double pct_start = 0.3;
  std::vector<int64_t> milestones;
  double gamma = 0.1;
  int epochs = 50;
  int64_t batch_size = 128;
  bool augment = false;
  int log_every = 10;
  bool mixed_precision = false;  ///< bf16 autocast (CUDA only)
  int loader_workers = 2;
  /// Runs the online teacher through LayeredModel::inference_copy (BatchNorm folded; NHWC on
  /// the CPU): the same targets to float rounding, computed faster.
  bool teacher_inference_copy = true;
  /// Data parallelism: after every step, check that all ranks hold bit-identical parameters
  /// (a fingerprint per parameter, reduced by min and max); a difference stops training with
  /// an error naming the parameter. A diagnostic: it costs a reduction per step.
  bool check_replicas = false;
  /// Geometry tracking (docs/geometry-tracking.md): snapshots of the student's layers on a probe
  /// sample, to geometry.jsonl and TrainObserver::on_geometry. Does not change the numbers.
  TrackingSettings tracking;
  /// On CUDA, after kGraphWarmupSteps ordinary steps, capture the whole step in a CUDA graph and
  /// replay it (core/graphs, docs/gpu.md). Where it cannot (the CPU, TorchScript models, several
  /// processes, a build without CUDA graphs) the ordinary step runs; on CUDA a note says why.
  bool cuda_graphs = true;
  /// Runs the CUDA-graph path's step (static buffers, GraphOptimizer) without capture, on any
  /// device: how tests check that path on machines without CUDA. Not a user setting.
  bool graph_step_without_capture = false;
};

/// Ordinary steps before the CUDA-graph step takes over (they create the optimizer's state).
inline constexpr int64_t kGraphWarmupSteps = 3;

/// The data a seed trains and evaluates on (shared by all seeds).
struct TrainData {
  const DatasetSplit* train = nullptr;
  const DatasetSplit* test = nullptr;
  ChannelStats stats;
  std::vector<int64_t> train_indices;  ///< the training subset (all samples when not restricted)
  std::vector<int64_t> test_indices;
};

/// What one seed achieved.
struct SeedResult {
  uint64_t seed = 0;
  int epochs_done = 0;
  double best_test_acc = 0;  ///< percent
  int best_epoch = 0;        ///< 0-based
  double last_test_acc = 0;  ///< percent
  double seconds = 0;        ///< training time, summed over interruptions
  std::vector<EpochReport> history;
};

/// An epoch's record as one line of JSON (epochs.jsonl and the checkpoint's history hold these).
std::string epoch_record(const EpochReport& report);
/// Reads a record written by epoch_record(); `epochs` fills EpochReport::epochs. Throws
/// nlohmann::json's exceptions for malformed text or missing fields.
EpochReport parse_epoch_record(const std::string& text, int epochs);

/// A NaN or Inf loss: names the component and the epoch; the last good checkpoint is kept.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

/// Trains one seed. The files it writes in `seed_dir`: checkpoint.safetensors (after every
/// epoch, atomically), steps.jsonl and epochs.jsonl (metrics), geometry.jsonl when tracking. When a checkpoint is there
/// already, training resumes from it and, on the CPU, ends with the same numbers as an
/// uninterrupted run.
///
/// With a Communicator of N ranks (docs/distributed.md) every rank runs a SeedTrainer of the same
/// seed: each trains on its shard of every batch (batch_size / N samples), gradients are averaged
/// over the ranks, the test split is evaluated in shards and reduced, and only rank 0 reads and
/// writes `seed_dir` (the others receive its checkpoint and parameters).
class SeedTrainer {
 public:
  /// `student` must be freshly built with this seed; `teacher` (may be null) is frozen and is
  /// put in eval mode; `cache` (may be null) provides the teacher's targets instead of running
  /// it. Parameters are moved to `device`.
  SeedTrainer(TrainerSettings settings, const TrainData& data, LayeredModel& student,
              LayeredModel* teacher, std::unique_ptr<LayeredModel> simkd_tail,
              const TeacherTargetCache* cache, torch::Device device, uint64_t seed,
              std::string seed_dir, Communicator* communicator = nullptr);
  ~SeedTrainer();

  /// Runs the remaining epochs. Throws kd::Cancelled, TrainingDiverged, kd::OutOfMemory (the
  /// device could not hold a step at this batch size; the checkpoint of the last finished
  /// epoch is kept), kd::Error.
  SeedResult run(TrainObserver* observer = nullptr);

  /// The objective (e.g. to evaluate after training).
  DistillObjective& objective() { return *objective_; }

  /// Test accuracy (percent) and mean cross entropy of the current student.
  std::pair<double, double> evaluate();

 private:
  struct State;
  SeedResult train_epochs(TrainObserver* observer);
  [[noreturn]] void throw_out_of_memory(const std::string& detail) const;
  void restore(const SafetensorsContent& content, const std::string& path);
  void restore_shared(const std::string& path);
  void broadcast_state();
  void check_replicas(const std::vector<std::pair<std::string, torch::Tensor>>& params) const;
  bool stop_requested(TrainObserver* observer) const;
  void save_checkpoint();
  double lr_at(int64_t step, int epoch) const;
  void start_tracking(TrainObserver* observer);
  void track(TrainObserver* observer, int epoch, bool partial);
  /// The step's forward and losses (bf16 autocast on CUDA when asked), on either path.
  LossBreakdown compute_loss(const torch::Tensor& images, const torch::Tensor& labels, const TeacherBatch& targets);
  std::string graph_step_unavailable() const;
  void start_graph_step(const TeacherRequest& request, TrainObserver* observer);

  TrainerSettings settings_;
  const TrainData& data_;
  LayeredModel& student_;
  LayeredModel* teacher_;
  std::unique_ptr<LayeredModel> teacher_copy_;  ///< the faster inference copy, when there is one
  const TeacherTargetCache* cache_;
  torch::Device device_;
  uint64_t seed_;
  std::string seed_dir_;
  std::unique_ptr<DistillObjective> objective_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<State> state_;
  Communicator* comm_ = nullptr;  ///< null: one process
  int rank_ = 0, ranks_ = 1;
  bool writer_ = true;  ///< rank 0 writes the seed folder
  std::unique_ptr<GeometryTracker> tracker_;  ///< rank 0, while tracking works
  std::unique_ptr<CapturedStep> captured_;    ///< the CUDA-graph step, once it has taken over
};

/// Reads epochs.jsonl-style history back (for result summaries).
SeedResult summarize_history(uint64_t seed, const std::vector<EpochReport>& history,
                             double seconds);

}  // namespace kd
