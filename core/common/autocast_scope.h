#pragma once
// bf16 autocast for a scope on CUDA (the API differs between LibTorch versions: torch_compat.h).
#include "common/torch_compat.h"

namespace kd {

/// Enables CUDA autocast to bfloat16 while alive when `enable` is true and the device is CUDA;
/// does nothing otherwise (CPU training stays in float32).
class AutocastScope {
 public:
  AutocastScope(bool enable, bool is_cuda) : active_(enable && is_cuda) {
    if (active_) compat::set_cuda_bf16_autocast(true);
  }
  ~AutocastScope() {
    if (active_) compat::set_cuda_bf16_autocast(false);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_;
};

}  // namespace kd
