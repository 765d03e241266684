#pragma once
// The optimizer step of the CUDA-graph training path (docs/gpu.md). LibTorch's AdamW and SGD
// compute their step sizes on the host (the learning rate, the bias corrections of the step
// count, the cycled momentum), so a captured step would replay the first step's numbers forever.
// GraphOptimizer performs the same update with every changing number in a 0-dim tensor on the
// parameters' device, updated before each replay; it works on the wrapped optimizer's own state
// tensors, in place, so that checkpoints and resume go through the optimizer unchanged.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace kd {

class GraphOptimizer {
 public:
  /// Wraps `optimizer` (torch::optim::AdamW or SGD; anything else throws kd::Error). Its state
  /// must exist for every parameter with a gradient, i.e. after at least one ordinary step: a
  /// kd::Error otherwise. Keeps references to the optimizer's state tensors; the optimizer must
  /// outlive this object and take no ordinary step while it is in use.
  explicit GraphOptimizer(torch::optim::Optimizer& optimizer);

  /// The learning rate and the first beta (AdamW) or momentum (SGD) of the next step: written
  /// into the device tensors, outside any capture.
  void set_hyperparameters(double lr, double beta1_or_momentum);

  /// One step from the parameters' current gradients: only tensor operations on the device,
  /// with no host synchronization, so it can be captured in a CUDA graph and replayed.
  void step();

  /// Writes the step count back into the optimizer's state (AdamW keeps it on the host), so
  /// that a checkpoint taken now holds the right count. `steps_taken` = calls of step() since
  /// construction (with replays, the host cannot count them itself).
  void sync_to_optimizer(int64_t steps_taken);

 private:
  struct Slot {
    torch::Tensor param;
    torch::Tensor exp_avg, exp_avg_sq;  ///< AdamW
    torch::Tensor momentum_buffer;      ///< SGD with momentum
    int64_t initial_step = 0;           ///< AdamW's host count at construction
  };
  torch::optim::Optimizer& optimizer_;
  bool adamw_ = false;
  double beta2_ = 0, eps_ = 0, weight_decay_ = 0;
  std::vector<Slot> slots_;
  torch::Tensor lr_, beta1_, step_;  ///< float64, 0-dim, on the device
};

}  // namespace kd
