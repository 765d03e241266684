// IDX images + labels (core/data/idx_reader.h). Input: 4-byte big-endian length L, then L bytes
// of the images file, then the labels file.
#include <vector>

#include "common/error.h"
#include "data/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  size_t split = size_t{data[0]} << 24 | size_t{data[1]} << 16 | size_t{data[2]} << 8 | data[3];
  data += 4;
  size -= 4;
  if (split > size) split = size;
  const std::vector<uint8_t> images(data, data + split), labels(data + split, data + size);
  try {
    kd::parse_idx_split(images, labels, "images", "labels");
  } catch (const kd::Error&) {
  }
  return 0;
}
