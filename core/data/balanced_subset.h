#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace kd {

/// Indices of a class-balanced random subset: for each class, `per_class` samples chosen
/// uniformly at random (every sample of a class that has fewer). The result is grouped by class
/// in ascending class order, indices ascending within a class. Deterministic: the same labels,
/// per_class and seed give the same subset on every platform; each class's choice depends only
/// on (seed, class), and a larger per_class extends the choice of a smaller one. `labels` is a
/// 1-D integer tensor with values in [0, num_classes); throws kd::Error otherwise.
std::vector<int64_t> balanced_subset(const torch::Tensor& labels, int64_t num_classes,
                                     int64_t per_class, uint64_t seed);

}  // namespace kd
