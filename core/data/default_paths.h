#pragma once

namespace kd {

/// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST: our embedded default.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace kd
