#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace kd {

/// Incremental 64-bit FNV-1a hash, for cache keys (not for security).
class ContentHash {
 public:
  /// Adds bytes.
  ContentHash& add(const void* data, size_t size);
  /// Adds a string and its length (so "ab"+"c" differs from "a"+"bc").
  ContentHash& add(const std::string& text);
  /// Adds a tensor's dtype, shape and bytes (moved to CPU, contiguous).
  ContentHash& add(const torch::Tensor& tensor);
  /// Adds a whole file's bytes; throws kd::Error if it cannot be read.
  ContentHash& add_file(const std::string& path);
  /// 16 hex digits.
  std::string hex() const;

 private:
  uint64_t state_ = 1469598103934665603ull;  // FNV offset basis
};

}  // namespace kd
