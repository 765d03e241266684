// KD Studio model files (core/models/model_file.h): safetensors + metadata naming a zoo
// architecture, whose tensors must fit it. TorchScript archives are LibTorch's own parser and
// are not fuzzed here (docs/reliability.md, "Untrusted files").
#include <torch/torch.h>

#include "common/error.h"
#include "fuzz_util.h"
#include "models/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool once = [] {
    torch::set_num_threads(1);
    return true;
  }();
  (void)once;
  const std::string path = kdfuzz::as_file(data, size, ".kdmodel");
  try {
    kd::load_zoo_model(path);
  } catch (const kd::Error&) {
  }
  return 0;
}
