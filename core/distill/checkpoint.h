#pragma once
// Training checkpoints: one safetensors file holding the student, the method's extra modules,
// the optimizer's state and, in its metadata, where training stands (docs/run-folders.md).
#include <torch/optim/optimizer.h>

#include <map>
#include <string>

#include "io/safetensors.h"

namespace kd {

/// "format" metadata value of checkpoints.
inline constexpr const char* kCheckpointFormat = "kdstudio-checkpoint";

/// The optimizer's per-parameter state (AdamW: step, exp_avg, exp_avg_sq[, max_exp_avg_sq];
/// SGD: momentum_buffer) as "optim.<parameter index>.<field>" tensors, in the order of the
/// optimizer's parameters. Throws kd::Error for other optimizers.
NamedTensors optimizer_state(torch::optim::Optimizer& optimizer);

/// Restores what optimizer_state() saved into an optimizer built over the same parameters.
/// Throws kd::Error when the stored state does not fit (count or shapes).
void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::map<std::string, torch::Tensor>& tensors);

/// Copies `stored[prefix + name]` into each of `targets` (in place, no grad). Throws kd::Error
/// naming missing or mis-shaped tensors; `what` names the thing being restored.
void restore_tensors(const NamedTensors& targets, const std::map<std::string, torch::Tensor>& stored,
                     const std::string& prefix, const std::string& what);

}  // namespace kd
