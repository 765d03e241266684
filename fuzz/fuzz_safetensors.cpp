// The safetensors container (core/io/safetensors.h) that model files and checkpoints use.
#include "common/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kd::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const kd::Error&) {
  }
  return 0;
}
