#include "common/version.h"

#include <torch/version.h>

#include <opencv2/core/version.hpp>

#include "kd/version_config.h"

namespace kd {

std::string version() { return KD_VERSION_STRING; }

std::string library_versions() {
  std::string text = "LibTorch ";
  text += TORCH_VERSION;
  text += ", OpenCV ";
  text += CV_VERSION;
  return text;
}

}  // namespace kd
