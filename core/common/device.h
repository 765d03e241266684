#pragma once
#include <torch/types.h>

#include <string>

namespace kd {

/// Parses a device choice: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
/// Throws kd::Error for an unknown name or when CUDA is asked for but not available.
torch::Device resolve_device(const std::string& choice = "auto");

/// One line describing the device, e.g. "CPU (16 threads)" or "CUDA:0 NVIDIA H100".
std::string describe_device(const torch::Device& device);

/// Sets LibTorch's intra-op threads; 0 means the machine's core count (Debian's LibTorch
/// otherwise runs on one thread). Returns the number set.
int configure_threads(int threads = 0);

}  // namespace kd
