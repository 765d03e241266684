#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "common/progress.h"

namespace kd {

/// Low-dimensional coordinates of a layer's sample, colored by class.
struct Projection {
  torch::Tensor coords;   ///< (N, dims) float32
  torch::Tensor labels;   ///< (N) int64, copied from the input
  torch::Tensor centers;  ///< (num_classes, dims): mean coordinates per class (0 for empty classes)
  std::vector<double> explained_variance_ratio;  ///< PCA only: per returned component
};

/// PCA of X (N, D) centered by its mean, projected onto the top `dims` (2 or 3) components.
/// Component signs are fixed so that the largest-magnitude loading of each is positive.
Projection pca_projection(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes,
                          int dims = 2);

/// The principal axes pca_projection() projects on, so that another sample can be placed in the
/// same coordinates (e.g. a student's projected features in its teacher layer's PCA view).
struct PcaAxes {
  torch::Tensor mean;  ///< (D) float64: the column means of X
  torch::Tensor axes;  ///< (D, dims) float64: unit loading vectors, signs as pca_projection's
  /// (Y - mean) axes: (M, dims) float64 for Y (M, D); pca_projection(X).coords == project(X).
  torch::Tensor project(const torch::Tensor& Y) const;
};
/// The top `dims` (2 or 3) principal axes of X (N, D), with the same checks as pca_projection().
PcaAxes pca_axes(const torch::Tensor& X, int dims = 2);
/// t-SNE options: exact (theta = 0) or Barnes-Hut (theta > 0, 2-D only).
struct TsneOptions {
  int dims = 2;
  double perplexity = 30;
  int iterations = 1000;
  double theta = 0.5;  ///< 0 = exact O(N^2) gradients
  double learning_rate = 200;
  uint64_t seed = 0;
};

/// t-SNE coordinates (van der Maaten & Hinton 2008; Barnes-Hut per van der Maaten 2014).
/// Progress: the first 10% for the input similarities, then every 25 iterations; throws
/// kd::Cancelled when the sink asks to stop. Deterministic for a seed, whatever the thread count.
/// Exact mode holds dense N x N matrices (2 x 8 N^2 bytes at the peak); Barnes-Hut is O(N log N).
Projection tsne_projection(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes,
                           const TsneOptions& options = {}, ProgressSink* progress = nullptr);

/// TwoNN intrinsic dimension (Facco et al. 2017): mu_i = r2/r1 over each point's two nearest
/// neighbours, d = N / sum ln mu_i. Duplicates (rows within 1e-5 x the data's RMS radius of
/// another row, i.e. equal up to float32 rounding) are removed first, one of each kept.
double twonn_dimension(const torch::Tensor& X);

/// Number of principal components (of the centered X) reaching `threshold` explained variance.
int64_t pca_intrinsic_dimension(const torch::Tensor& X, double threshold = 0.9);

/// Numerical rank of the centered X: singular values above max(N,D) * eps * s_max, with eps the
/// float32 machine epsilon (features are float32; the float64 Gram route resolves far below it).
int64_t numerical_rank(const torch::Tensor& X);

/// Nearest-class-center accuracy in [0,1]: each sample is assigned the class whose mean (over
/// the sample, leave-one-out for its own class) is nearest in Euclidean distance. Empty classes
/// are skipped, as is the own center of a sample alone in its class (so it counts as a miss).
double ncc_accuracy(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes);

/// How linear_cka evaluates the products: both give the same value up to rounding.
enum class CkaForm {
  automatic,  ///< Gram form when N < max(D1, D2), feature form otherwise
  gram,       ///< <K_X, K_Y>_F / (||K_X||_F ||K_Y||_F) with K = Xc Xc^T (N x N)
  features,   ///< ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) (D x D products)
};

/// Linear CKA (Kornblith et al. 2019) of X (N, D1) and Y (N, D2) on column-centered features:
/// ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), in [0, 1]; 0 when either side has no variance.
/// Uses the N x N Gram form when N < D (trace(K_X K_Y) = ||Y^T X||_F^2).
double linear_cka(const torch::Tensor& X, const torch::Tensor& Y,
                  CkaForm form = CkaForm::automatic);

}  // namespace kd
