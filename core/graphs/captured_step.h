#pragma once
// The CUDA-graph training step (docs/gpu.md): after warm-up the whole step (the online teacher's
// forward, the student's, the losses, backward and the optimizer step) is captured once in a
// CUDA graph over static input buffers and replayed for every later batch, so that a step costs
// one launch instead of hundreds. Without capture (no CUDA graphs in this build, the CPU, or a
// capture that failed) the same step runs eagerly, through the same buffers and GraphOptimizer:
// that is how the CPU tests check everything but the capture itself.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "distill/distill_objective.h"
#include "distill/teacher_targets.h"
#include "graphs/graph_optimizer.h"

namespace kd {

class CapturedStep {
 public:
  /// The step's forward: teacher targets (`targets` when they come from a cache, else computed
  /// here from `images`), the student and the losses. Must not synchronize with the host.
  using Forward = std::function<LossBreakdown(const torch::Tensor& images, const torch::Tensor& labels,
                                              const TeacherBatch& targets)>;

  /// `optimizer` must have taken an ordinary step already (GraphOptimizer). `capture` false runs
  /// the step without a CUDA graph. `note` receives a message for the user, at most once.
  CapturedStep(torch::optim::Optimizer& optimizer, Forward forward, bool capture,
               std::function<void(const std::string&)> note);
  ~CapturedStep();

  /// One training step on this batch with these hyperparameters; the returned losses stay valid
  /// until the next call. The first call runs eagerly (warming the side stream), the second
  /// captures and replays, every later one replays. A batch of another shape runs eagerly.
  const LossBreakdown& run(const torch::Tensor& images, const torch::Tensor& labels, const TeacherBatch& targets,
                           double lr, double beta1_or_momentum);

  /// Makes the optimizer's own state agree (before a checkpoint).
  void sync_to_optimizer() { optimizer_.sync_to_optimizer(steps_); }
  /// Whether later steps replay a graph.
  bool captured() const;

  /// Why this build or device cannot capture ("" when it can).
  static std::string unavailable_reason(const torch::Device& device);

 private:
  struct Graph;  // the CUDA side: stream, events, graph (captured_step.cpp)
  void copy_inputs(const torch::Tensor& images, const torch::Tensor& labels, const TeacherBatch& targets);
  bool same_shapes(const torch::Tensor& images, const torch::Tensor& labels, const TeacherBatch& targets) const;
  void body();
  void eager_step();
  void fall_back(const std::string& why);

  GraphOptimizer optimizer_;
  std::vector<torch::Tensor> params_;
  Forward forward_;
  std::function<void(const std::string&)> note_;
  std::unique_ptr<Graph> graph_;  ///< null when not capturing
  torch::Tensor images_, labels_;  ///< static inputs
  TeacherBatch targets_;
  LossBreakdown loss_;             ///< static outputs
  int64_t steps_ = 0;
  bool noted_ = false;
};

}  // namespace kd
