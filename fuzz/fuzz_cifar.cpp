// CIFAR binary records (core/data/cifar_reader.h), as CIFAR-10 (1 label byte) and CIFAR-100
// (coarse + fine label bytes).
#include <vector>

#include "common/error.h"
#include "data/cifar_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  try {
    kd::parse_cifar_records(bytes, 1, 0, 10, "data_batch_1.bin");
  } catch (const kd::Error&) {
  }
  try {
    kd::parse_cifar_records(bytes, 2, 1, 100, "train.bin");
  } catch (const kd::Error&) {
  }
  return 0;
}
