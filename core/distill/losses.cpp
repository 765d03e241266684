#include "distill/losses.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace kd {
namespace {

std::string shape_text(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::string pair_text(const torch::Tensor& student, const torch::Tensor& teacher) {
  return "student " + shape_text(student) + ", teacher " + shape_text(teacher);
}

void require(bool ok, const std::string& what, const torch::Tensor& student,
             const torch::Tensor& teacher) {
  if (!ok) throw Error(what + " (" + pair_text(student, teacher) + ")");
}

/// (B, C) -> (B, C, 1, ...) with `spatial_dims` trailing ones.
torch::Tensor with_spatial_ones(const torch::Tensor& t, int64_t spatial_dims) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  shape.resize(static_cast<size_t>(2 + spatial_dims), 1);
  return t.reshape(shape);
}

torch::Tensor pooled_to(const torch::Tensor& t, const std::vector<int64_t>& size) {
  if (t.sizes().slice(2).vec() == size) return t;
  return size.size() == 1 ? torch::adaptive_avg_pool1d(t, size)
                          : torch::adaptive_avg_pool2d(t, size);
}

torch::Tensor row_normalized_gram(const torch::Tensor& feat) {
  const torch::Tensor f = feat.reshape({feat.size(0), -1});
  const torch::Tensor gram = f.matmul(f.t());
  // As F.normalize(p=2, dim=1): the norm is clamped so an all-zero row stays zero.
  return gram / gram.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace

torch::Tensor standardize_logits(const torch::Tensor& logits) {
  const torch::Tensor mean = logits.mean({-1}, /*keepdim=*/true);
  const torch::Tensor std = logits.std({-1}, /*unbiased=*/true, /*keepdim=*/true);
  return (logits - mean) / (std + kStandardizeEps);
}

torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                      double temperature, bool standardize) {
  require(student_logits.dim() == 2 && student_logits.sizes() == teacher_logits.sizes(),
          "KD loss needs (batch, classes) logits of equal shape", student_logits, teacher_logits);
  if (!(temperature > 0))
    throw Error("KD temperature must be positive, got " + std::to_string(temperature));
  const torch::Tensor zs = standardize ? standardize_logits(student_logits) : student_logits;
  const torch::Tensor zt = standardize ? standardize_logits(teacher_logits) : teacher_logits;
  const torch::Tensor log_ps = torch::log_softmax(zs / temperature, 1);
  const torch::Tensor log_pt = torch::log_softmax(zt / temperature, 1);
  // KL(p_t || p_s) = sum p_t (log p_t - log p_s); the log of the teacher comes from log_softmax
  // so that underflowing probabilities contribute 0 instead of 0 * -inf.
  const torch::Tensor kl = (log_pt.exp() * (log_pt - log_ps)).sum();
  return kl / static_cast<double>(student_logits.size(0)) * (temperature * temperature);
}

AlignedFeatures align_features(const torch::Tensor& student_feat,
                               const torch::Tensor& teacher_feat) {
  const auto rank_ok = [](int64_t d) { return d >= 2 && d <= 4; };
  require(rank_ok(student_feat.dim()) && rank_ok(teacher_feat.dim()),
          "features must be (B, C), (B, T, D) tokens or (B, C, H, W) maps", student_feat,
          teacher_feat);
  require(student_feat.size(0) == teacher_feat.size(0), "feature batch sizes differ", student_feat,
          teacher_feat);
  // A (B, C) vector pairs with tokens as a single token, with maps as a 1x1 map.
  const bool tokens = student_feat.dim() == 3 || teacher_feat.dim() == 3;
  require(!(tokens && (student_feat.dim() == 4 || teacher_feat.dim() == 4)),
          "cannot pair ViT tokens (B, T, D) with a (B, C, H, W) map", student_feat, teacher_feat);
  const int64_t spatial_dims = tokens ? 1 : 2;
  torch::Tensor s =
      student_feat.dim() == 2 ? with_spatial_ones(student_feat, spatial_dims) : student_feat;
  torch::Tensor t =
      teacher_feat.dim() == 2 ? with_spatial_ones(teacher_feat, spatial_dims) : teacher_feat;
  if (tokens) {  // (B, T, D) -> (B, D, T): channels first, tokens as the 1-D spatial axis
    if (student_feat.dim() == 3) s = s.transpose(1, 2);
    if (teacher_feat.dim() == 3) t = t.transpose(1, 2);
  }
  std::vector<int64_t> size;
  for (int64_t d = 2; d < s.dim(); ++d) size.push_back(std::min(s.size(d), t.size(d)));
  return {pooled_to(s, size), pooled_to(t, size)};
}

torch::Tensor feature_pair_loss(const torch::Tensor& projected_student,
                                const torch::Tensor& teacher) {
  require(projected_student.sizes() == teacher.sizes(),
          "projected student and teacher features differ in shape after alignment",
          projected_student, teacher);
  return torch::mse_loss(projected_student, teacher);
}

torch::Tensor similarity_preserving_loss(const torch::Tensor& student_feat,
                                         const torch::Tensor& teacher_feat) {
  require(student_feat.dim() >= 2 && teacher_feat.dim() >= 2 &&
              student_feat.size(0) == teacher_feat.size(0),
          "similarity-preserving loss needs batched features of equal batch size", student_feat,
          teacher_feat);
  const auto batch = static_cast<double>(student_feat.size(0));
  const torch::Tensor diff = row_normalized_gram(student_feat) - row_normalized_gram(teacher_feat);
  return diff.pow(2).sum() / (batch * batch);
}

}  // namespace kd
