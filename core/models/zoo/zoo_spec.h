#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kd::zoo {

/// A zoo architecture and its options, as written "resnet9:channels=1,size=28,width=0.25".
struct ZooSpec {
  std::string arch = "resnet9";  ///< one of zoo_architectures()
  int64_t channels = 3;          ///< input channels (1 for Fashion-MNIST)
  int64_t size = 32;             ///< input height = width
  int64_t classes = 10;          ///< number of classes
  double width = 1.0;            ///< channel (and ViT dim) multiplier, e.g. 0.25 for CPU demos
  /// Downsample in the stem (Tiny-ImageNet variant, method.md section 7): "auto" = when size >= 64.
  std::string downsample = "auto";

  /// Canonical text form: the arch, then every option that differs from its default.
  std::string to_string() const;
  /// True when the stem downsamples (resolves "auto").
  bool stem_downsamples() const;
};

/// Names of the built-in architectures.
const std::vector<std::string>& zoo_architectures();

/// True when `text` starts with a zoo architecture name (followed by nothing or ':').
bool looks_like_zoo_spec(const std::string& text);

/// Parses "arch[:key=value,...]" (keys: channels, size, classes, width, downsample).
/// Throws kd::Error naming the bad part and listing what is valid.
ZooSpec parse_zoo_spec(const std::string& text);

}  // namespace kd::zoo
