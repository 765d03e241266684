#pragma once
// bf16 autocast for a scope on CUDA, across LibTorch versions (the API was renamed in 2.4).
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace kd {

/// Enables CUDA autocast to bfloat16 while alive when `enable` is true and the device is CUDA;
/// does nothing otherwise (CPU training stays in float32).
class AutocastScope {
 public:
  AutocastScope(bool enable, bool is_cuda) : active_(enable && is_cuda) {
    if (!active_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~AutocastScope() {
    if (!active_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_;
};

}  // namespace kd
