// The paper's (KD_wo_CE) configs (core/experiment/experiment_config.h, import_paper_config).
#include <string>

#include "common/error.h"
#include "experiment/experiment_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    kd::is_paper_config(text);
    kd::import_paper_config(text, "paper.json");
  } catch (const kd::Error&) {
  }
  return 0;
}
