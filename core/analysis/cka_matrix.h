#pragma once
#include <vector>

#include "common/progress.h"
#include "data/dataset.h"
#include "models/layered_model.h"

namespace kd {

/// Settings of a teacher-student CKA map.
struct CkaSettings {
  int64_t per_class = 50;  ///< class-balanced sample of the training split
  uint64_t seed = 0;
  int64_t batch_size = 256;
  std::string device = "auto";
};

/// Linear CKA between every teacher layer (rows) and every student layer (columns)
/// (Kornblith et al. 2019), on one class-balanced sample. Each layer is reduced to its centered
/// N x N Gram matrix as soon as it is computed, so memory is O(layers * N^2), never the features
/// of all layers. Throws kd::Error when a model does not fit the data or has no layers.
std::vector<std::vector<double>> cka_matrix(LayeredModel& teacher, LayeredModel& student,
                                            const Dataset& data, const CkaSettings& settings,
                                            ProgressSink* progress = nullptr);

/// Centered Gram matrix H X X^T H (float64) of features X (N, D).
torch::Tensor centered_gram(const torch::Tensor& features);

/// CKA from two centered Gram matrices: <Kx, Ky>_F / (||Kx||_F ||Ky||_F); 0 when either is zero.
double cka_from_grams(const torch::Tensor& kx, const torch::Tensor& ky);

}  // namespace kd
