#pragma once
// t-SNE internals behind kd::tsne_projection (analysis/geometry.h): input affinities, exact and
// Barnes-Hut gradients and the optimiser. Written from van der Maaten & Hinton (2008) and
// van der Maaten (2014). Exposed so that the tests can check each part on its own.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "analysis/geometry.h"
#include "common/progress.h"

namespace kd::tsne {

/// Symmetric input similarities p_ij (summing to 1) in compressed-row form.
struct SparseAffinities {
  std::vector<int64_t> row_start;  ///< N + 1 offsets into col / p
  std::vector<int64_t> col;        ///< neighbour index j of each stored p_ij
  std::vector<double> p;           ///< p_ij
};

/// Conditional p_{j|i} over one point's squared distances to its candidates, with the Gaussian
/// bandwidth found by binary search so that 2^H (H in bits) equals `perplexity`.
std::vector<double> calibrate_row(const std::vector<double>& sq_dist, double perplexity);

/// Dense symmetric P (N x N, row-major) over all pairs: (p_{j|i} + p_{i|j}) / 2N.
std::vector<double> dense_affinities(const torch::Tensor& X, double perplexity,
                                     ProgressSink* progress);

/// Sparse symmetric P over each point's floor(3 * perplexity) nearest neighbours.
SparseAffinities sparse_affinities(const torch::Tensor& X, double perplexity,
                                   ProgressSink* progress);

/// Exact KL gradient for embedding Y (N x dims, row-major) and dense P scaled by `exaggeration`.
std::vector<double> exact_gradient(const std::vector<double>& P, const std::vector<double>& Y,
                                   int dims, double exaggeration);

/// Barnes-Hut KL gradient for a 2-D embedding Y (N x 2, row-major): attraction over the sparse
/// P, repulsion through a quadtree with cells summarised when diagonal / distance < theta.
std::vector<double> barnes_hut_gradient(const SparseAffinities& P, const std::vector<double>& Y,
                                        double theta, double exaggeration);

/// Runs the whole optimisation on validated input; returns Y (N x dims, row-major).
std::vector<double> run(const torch::Tensor& X, const TsneOptions& options, ProgressSink* progress);

}  // namespace kd::tsne
