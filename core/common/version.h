#pragma once
#include <string>

namespace kd {

/// KD Studio's version, e.g. "0.1.0".
std::string version();
/// Versions of the libraries core is built with, one line, e.g. "LibTorch 1.13.0, OpenCV 4.6.0".
std::string library_versions();

}  // namespace kd
