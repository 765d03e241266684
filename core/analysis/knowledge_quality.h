#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/progress.h"

namespace kd {

/// Knowledge quality of one teacher layer (method.md section 2) with the parts it is made of.
struct QualityScores {
  double separation = 0;    ///< S = mean_c AvgIntra_c - mean_{c!=j} AvgInter_cj
  double information = 0;   ///< I = (1 - mean_c MinIntra_c) * mean_c H_c / ln 5
  double efficiency = 0;    ///< E = (N_train/pi)^(1/PCAGID) * 2 * mean MinInterDist / mean AvgNorm
  double quality = 0;       ///< Q = S + sqrt(I * E)
  double avg_intra = 0;     ///< mean_c AvgIntra_c
  double avg_inter = 0;     ///< mean_{c!=j} AvgInter_cj
  double min_intra = 0;     ///< mean_c MinIntra_c
  double mean_entropy = 0;  ///< mean_c H_c (on sample B)
  double min_inter_dist = 0;  ///< mean_c MinInterDist_c
  double avg_norm = 0;        ///< mean_c AvgNorm_c
  int64_t pcagid = 0;         ///< min(|A|, D)
};

/// Options of the Q computation.
struct QualityOptions {
  /// Rows per block of the |A| x |A| (and per-class Gram) products. The working set beyond the
  /// inputs is a few block_rows^2 float64 matrices plus two float64 operands of 4M elements.
  int64_t block_rows = 1024;
};

/// Computes S, I, E and Q from one layer's flattened features. feats_a: (|A|, D) float, the
/// class-balanced sample A (a (|A|, C, H, W) map is flattened); labels_a: (|A|) integer in
/// [0, num_classes); feats_b/labels_b: sample B, same D; n_train: size of the training split.
/// Works on the features' device, in float64, with pairwise products computed in blocks so that
/// memory stays O(block_rows^2 + block_rows * chunk) beyond the inputs. Polls `progress` for
/// cancellation between blocks (throws kd::Cancelled). Edge cases (classes with one sample or
/// none, zero vectors, identical samples) are documented in docs/analysis.md.
QualityScores knowledge_quality(const torch::Tensor& feats_a, const torch::Tensor& labels_a,
                                const torch::Tensor& feats_b, const torch::Tensor& labels_b,
                                int64_t num_classes, int64_t n_train,
                                const QualityOptions& options = {},
                                ProgressSink* progress = nullptr);

/// The sample-B half of Q: mean over the classes present of the spectral entropy H_c of the
/// class-centered features (method.md section 2). Lets callers stream B separately from A.
double mean_class_entropy(const torch::Tensor& feats_b, const torch::Tensor& labels_b,
                          int64_t num_classes, const QualityOptions& options = {},
                          ProgressSink* progress = nullptr);

/// The sample-A half of Q, combined with a mean entropy computed by mean_class_entropy():
/// knowledge_quality(A, B) == knowledge_quality_from_a(A, ..., mean_class_entropy(B)).
QualityScores knowledge_quality_from_a(const torch::Tensor& feats_a, const torch::Tensor& labels_a,
                                       int64_t num_classes, int64_t n_train, double mean_entropy,
                                       const QualityOptions& options = {},
                                       ProgressSink* progress = nullptr);

/// What to rank teacher layers by: Q ("Ours") or one of the ablations.
enum class SelectionCriterion { kQuality, kSeparation, kInformation, kEfficiency, kSqrtIE };

/// Parses "Q", "S", "I", "E" or "sqrtIE" (case-insensitive); throws kd::Error otherwise.
SelectionCriterion parse_selection_criterion(const std::string& text);

/// The k layers with the highest score under `criterion`, returned in depth order (ascending
/// index). Ties go to the shallower layer; a NaN score ranks last. k < 1 or k larger than the
/// number of layers is an error.
std::vector<int> select_layers(const std::vector<QualityScores>& scores, int k,
                               SelectionCriterion criterion = SelectionCriterion::kQuality);

/// Max-pool factor for a (C,H,W) feature map so that its flattened size is at most
/// kMaxFeatureDim: ceil(sqrt(D / kMaxFeatureDim)), 1 when D already fits; D < 1 is an error.
int64_t feature_pool_factor(int64_t flat_dim);

/// Largest flattened feature dimension used as is (method.md section 2).
inline constexpr int64_t kMaxFeatureDim = 262144;

}  // namespace kd
