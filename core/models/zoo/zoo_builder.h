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

/// A lower bound on the number of parameters create_zoo_model(spec) allocates, computed without
/// building anything (the largest weight tensors only). A model file that holds fewer values
/// than this cannot match its architecture, so it is refused before the model is built.
int64_t min_parameter_count(const ZooSpec& spec);

}  // namespace kd::zoo
