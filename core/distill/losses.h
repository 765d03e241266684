#pragma once
// Distillation losses of method.md sections 4 and 5. All functions are differentiable, keep the
// inputs' device and dtype, and throw kd::Error for inputs of the wrong rank or shape.
#include <torch/types.h>

#include <utility>

namespace kd {

/// Added to the standard deviation in standardize_logits (method.md section 5).
inline constexpr double kStandardizeEps = 1e-6;

/// Default distillation temperature (Hinton et al.; method.md section 5).
inline constexpr double kDefaultTemperature = 4.0;

/// Z-score per sample over the last (class) dimension: (z - mean) / (std + 1e-6), with torch's
/// default unbiased std, as z.std(dim=-1, keepdim=True) in Sun et al. 2024's code (which adds
/// 1e-7; we follow method.md's 1e-6).
torch::Tensor standardize_logits(const torch::Tensor& logits);

/// T^2 * KL(softmax(z_t/T) || softmax(z_s/T)) averaged over the batch ("batchmean"), for
/// (B, K) logits of equal shape; with standardize, both are standardized first. The teacher
/// logits are used as given: detach them if no gradient should reach the teacher.
torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      double temperature = kDefaultTemperature, bool standardize = false);

/// Student and teacher features brought to a common layout and spatial size.
struct AlignedFeatures {
  torch::Tensor student;  ///< (B, C_s, H, W) or, for ViT tokens, (B, D_s, T)
  torch::Tensor teacher;  ///< (B, C_t, H, W) or (B, D_t, T), same spatial size as student
};

/// Prepares a feature pair for the loss (method.md section 4): (B, C) becomes (B, C, 1, 1)
/// (or (B, C, 1) against ViT tokens); ViT tokens (B, T, D) become (B, D, T); then the larger map
/// is adaptive-average-pooled to the smaller's size (per dimension: the target is the smaller
/// size of each spatial dimension, so a student no larger than the teacher pools the teacher).
AlignedFeatures align_features(const torch::Tensor& student_feat,
                               const torch::Tensor& teacher_feat);

/// Mean over all elements of (projected_student - teacher)^2; both must have the same shape
/// (pass the outputs of align_features, the student through its projector).
torch::Tensor feature_pair_loss(const torch::Tensor& projected_student,
                                const torch::Tensor& teacher);

/// Similarity-preserving loss (Tung & Mori 2019): G = f f^T on the (B, -1) flattened features,
/// each row L2-normalized, loss = sum((G_s - G_t)^2) / B^2 over all rows.
torch::Tensor similarity_preserving_loss(const torch::Tensor& student_feat,
                                         const torch::Tensor& teacher_feat);

}  // namespace kd
