#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kd {

/// Named tensors in file order.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// Contents of a safetensors file (https://huggingface.co/docs/safetensors format):
/// a little-endian u64 header length, a JSON header, then the raw tensor bytes.
struct SafetensorsContent {
  std::map<std::string, std::string> metadata;  ///< the "__metadata__" entry
  NamedTensors tensors;                         ///< CPU tensors, in header order
};

/// Largest JSON header we accept (a 100-byte file must not make us allocate gigabytes).
inline constexpr uint64_t kMaxSafetensorsHeader = 64ull << 20;

/// Parses a safetensors image held in memory. `name` is used in error messages. Every
/// declared shape, dtype and offset is checked against the buffer before anything is allocated.
SafetensorsContent parse_safetensors(const uint8_t* data, size_t size, const std::string& name);

/// Reads and parses a safetensors file; throws kd::Error naming the file and the problem.
SafetensorsContent read_safetensors(const std::string& path);

/// Writes tensors (moved to CPU, made contiguous) and metadata atomically. Supported dtypes:
/// float64/32/16, bfloat16, int64/32/16/8, uint8, bool.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace kd
