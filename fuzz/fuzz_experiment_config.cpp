// Our experiment configs (core/experiment/experiment_config.h): parse, validate, write back and
// parse again (the round trip must not fail).
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "experiment/experiment_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  kd::ExperimentConfig config;
  try {
    config = kd::experiment_from_json(text, "fuzz.json");
  } catch (const kd::Error&) {
    return 0;
  }
  try {
    kd::validate_experiment(config);
  } catch (const kd::Error&) {
  }
  // What we write we must read back.
  try {
    kd::experiment_from_json(kd::experiment_to_json(config), "round-trip.json");
  } catch (const kd::Error&) {
    std::abort();
  }
  return 0;
}
