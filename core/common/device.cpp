#include "common/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <thread>

#include "common/error.h"

namespace kd {

torch::Device resolve_device(const std::string& choice) {
  std::string c = choice;
  std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (c.empty() || c == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (c == "cpu") return torch::Device(torch::kCPU);
  if (c == "cuda" || c.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw Error("device '" + choice +
                  "' was asked for, but CUDA is not available in this build or on this machine "
                  "(use --device cpu, or build against a CUDA LibTorch: see docs/gpu.md)");
    }
    int index = 0;
    if (c.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(c.substr(5), &used);
        if (used != c.size() - 5 || index < 0) throw std::invalid_argument("bad index");
      } catch (const std::exception&) {
        throw Error("device '" + choice + "': expected cuda:N with N a GPU index");
      }
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw Error("device '" + choice + "': only " + std::to_string(count) + " GPU(s) present");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + choice + "' (expected auto, cpu, cuda or cuda:N)");
}

std::string describe_device(const torch::Device& device) {
  if (device.is_cuda()) return "CUDA:" + std::to_string(device.index());
  const int threads = at::get_num_threads();
  return "CPU (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
}

int configure_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return threads;
}

}  // namespace kd
