#pragma once
#include <cstdint>
#include <memory>

#include "models/zoo/zoo_model.h"
#include "models/zoo/zoo_spec.h"

namespace kd::zoo {

/// Builds a zoo model with freshly initialised weights (deterministic for `init_seed`).
/// Generalized layers follow method.md section 1 exactly; docs/model-files.md describes each
/// architecture. Throws kd::Error for options an architecture cannot take (e.g. a ViT input size
/// that is not a multiple of the patch size).
std::unique_ptr<ZooModel> create_zoo_model(const ZooSpec& spec, uint64_t init_seed = 0);

}  // namespace kd::zoo
