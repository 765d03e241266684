#pragma once
// Every difference between the LibTorch versions KD Studio builds on (Debian 12's 1.13, Debian
// 13's 2.6, PyTorch's own 2.x with CUDA) lives here, and no other file tests TORCH_VERSION_*.
// Each entry names the versions it separates. What is the same everywhere (torch::linalg_eigh,
// linalg_eigvalsh, linalg_qr: the torch::linalg:: namespace of 1.x is gone in 2.x) is used
// directly and needs no entry.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <type_traits>

#define KD_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

/// 1 where the legacy profiler API (torch::autograd::profiler::enableProfiler with a
/// ProfilerConfig of torch::profiler::impl, torch/csrc/autograd/profiler_kineto.h) is what the
/// bench's --profile uses: LibTorch 1.x. It moved and changed in 2.x.
#define KD_TORCH_LEGACY_PROFILER (TORCH_VERSION_MAJOR == 1)

/// 1 where aten::scaled_dot_product_attention is a built-in operator (LibTorch 2.0 and later);
/// older builds get ours (models/sdpa_operator.cpp) so that TorchScript files from 2.x load.
#define KD_TORCH_HAS_SDPA KD_TORCH_AT_LEAST(2, 0)

/// The base class of c10d's collective engines (ProcessGroupGloo, ProcessGroupNCCL): they were
/// ProcessGroups in LibTorch 1.x and are c10d::Backend from 2.0 on (a ProcessGroup now holds
/// them). Only core/distributed/communicator.cpp, which includes c10d's headers, names it.
#if TORCH_VERSION_MAJOR >= 2
#define KD_C10D_ENGINE_BASE c10d::Backend
#else
#define KD_C10D_ENGINE_BASE c10d::ProcessGroup
#endif

namespace kd::compat {

/// Makes a c10d::TCPStoreOptions use the classic socket server. LibTorch 2.4 added a libuv
/// server (useLibUV, on by default from 2.4), which a LibTorch built without libuv refuses;
/// the classic one exists in every version.
template <typename TcpStoreOptions>
void use_classic_tcp_store(TcpStoreOptions& options) {
  if constexpr (requires { options.useLibUV; }) options.useLibUV = false;
}

/// The key of a parameter in torch::optim::Optimizer::state(): the TensorImpl address as text in
/// LibTorch 1.x (what c10::guts::to_string, removed in 2.x, printed), the TensorImpl pointer itself
/// in 2.x. Our checkpoints never store this key (they number the parameters), so a checkpoint
/// moves between versions unchanged.
template <typename StateMap, typename Tensor>
typename StateMap::key_type optimizer_state_key(const StateMap&, const Tensor& param) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << static_cast<const void*>(param.unsafeGetTensorImpl());
    return text.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

/// Turns CUDA autocast to bfloat16 on or off. The API took the device type in LibTorch 2.4
/// (set_autocast_enabled(kCUDA, ...)); before, CUDA had its own functions (set_enabled,
/// set_autocast_gpu_dtype), deprecated in 2.4.
inline void set_cuda_bf16_autocast(bool on) {
#if KD_TORCH_AT_LEAST(2, 4)
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(on);
#endif
  if (!on) at::autocast::clear_cache();
}

/// "1.13.1" or "2.6.0": the LibTorch this program was built against.
inline std::string torch_version() { return TORCH_VERSION; }

/// Starts capturing `graph` (an at::cuda::CUDAGraph) in `thread_local_mode`
/// (cudaStreamCaptureModeThreadLocal) where LibTorch takes a capture mode (2.1 and later), so that
/// CUDA calls of other threads (the loader's pinned-memory allocations) cannot invalidate the
/// capture; in the global mode, LibTorch's only one before, otherwise. Generic so that this
/// header needs no CUDA headers.
template <typename Graph, typename Mode>
void begin_thread_local_capture(Graph& graph, Mode thread_local_mode) {
  if constexpr (requires { graph.capture_begin({0, 0}, thread_local_mode); }) {
    graph.capture_begin({0, 0}, thread_local_mode);
  } else {
    graph.capture_begin();
  }
}

/// 1 where LibTorch's CPU convolutions run on oneDNN 3.x (LibTorch 2.x), whose AVX-512 kernel for
/// the weight gradient of a 1x1 stride-2 convolution with fewer input channels than its 16-wide
/// block writes past its workspace (uxlfoundation/oneDNN#6035, open): training a narrow ResNet
/// then turns NaN after a few steps, at a step that changes from run to run. Measured on an AMD
/// EPYC with AVX-512 and Debian 13's LibTorch 2.6 (oneDNN 3.6); LibTorch 1.13 (oneDNN 2.x) on
/// the same machine trains correctly.
#define KD_ONEDNN_AVX512_1X1_BUG (TORCH_VERSION_MAJOR >= 2)

/// Where KD_ONEDNN_AVX512_1X1_BUG holds, on an x86 CPU with AVX-512, caps oneDNN at AVX2 (whose
/// 8-wide block covers the narrow students KD Studio trains) by setting ONEDNN_MAX_CPU_ISA,
/// unless the user set it (or DNNL_MAX_CPU_ISA). oneDNN reads it once, at its first primitive,
/// so this runs before main (core/distill/trainer.cpp). Returns whether it set it.
inline bool avoid_onednn_avx512_1x1_bug() {
#if KD_ONEDNN_AVX512_1X1_BUG && (defined(__x86_64__) || defined(__i386__))
  if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA")) return false;
  if (!__builtin_cpu_supports("avx512f")) return false;
  return setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 0) == 0;
#else
  return false;
#endif
}

}  // namespace kd::compat
