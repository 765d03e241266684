// Image folder entries (core/data/image_header.h, image_folder_reader.cpp): the header size
// check that runs before decoding, then OpenCV's decoder as the reader calls it.
#include <opencv2/imgcodecs.hpp>

#include "common/error.h"
#include "data/image_header.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kd::declared_image_dims(data, size);
  const std::string path = kdfuzz::as_file(data, size, ".img");
  try {
    kd::check_image_header(path);
  } catch (const kd::Error&) {
    return 0;
  }
  try {
    const cv::Mat bytes(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
    cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::imdecode(bytes, cv::IMREAD_GRAYSCALE);
  } catch (const cv::Exception&) {
  }
  return 0;
}
