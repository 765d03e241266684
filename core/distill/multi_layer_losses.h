#pragma once
// Feature losses over several student and teacher layers at once (method.md section 5):
// the fully connected FitNets-style mapping and SemCKD's attention-weighted mapping.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kd {

/// A feature's shape without the batch dimension: (C, H, W), (C) or ViT tokens (T, D).
using FeatureShape = std::vector<int64_t>;

/// "fitnets_all": every student layer i against every teacher layer j, each pair through its
/// own projector (child "proj_<i>_<j>", made by make_projector), after align_features; loss =
/// sum_i sum_j feature_pair_loss(P_ij(s_i), t_j) / (number of teacher layers).
class AllPairsFeatureLossImpl : public torch::nn::Module {
 public:
  /// Builds one projector per pair; throws kd::Error for empty or malformed shape lists and for
  /// shapes that cannot pair (ViT tokens with (C, H, W) maps).
  AllPairsFeatureLossImpl(const std::vector<FeatureShape>& student_shapes,
                          const std::vector<FeatureShape>& teacher_shapes,
                          const std::string& projector_kind = "SingleLayerConv");
  /// Student and teacher features in the order of the shapes given at construction (raw layer
  /// outputs, batch first). Returns the scalar loss. Throws kd::Error, naming the layer
  /// position (counted from 0), for a wrong number of features, a feature whose shape after the
  /// batch dimension differs from the construction shape, or differing batch sizes. Teacher
  /// features are used as given (not detached here): pass them detached so that gradients
  /// reach only the student features and this module's parameters.
  torch::Tensor forward(const std::vector<torch::Tensor>& student,
                        const std::vector<torch::Tensor>& teacher);

 private:
  std::vector<FeatureShape> student_shapes_, teacher_shapes_;
  /// projectors_[i * n_teacher + j] maps student layer i to teacher layer j.
  std::vector<torch::nn::AnyModule> projectors_;
};
TORCH_MODULE(AllPairsFeatureLoss);

/// Our SemCKD (Chen et al. 2021): all pairs as above, each weighted per sample by attention
/// over the teacher layers. Query q_i = Linear(GAP(s_i)) and key k_j = Linear(GAP(t_j)), both of
/// `embed_dim` (children "query_<i>", "key_<j>", with bias); GAP = mean over the spatial or
/// token positions after align_features' layout change; alpha_b,i,: = softmax_j(q_i . k_j /
/// sqrt(embed_dim)); per-sample pair loss l_b,ij = mean over one sample's elements of
/// (P_ij(s_i) - t_j)^2; loss = (1 / n_student) * sum_i mean_b sum_j alpha_b,ij * l_b,ij.
/// (The original embeds batch-similarity rows, which ties the model to one batch size; pooled
/// features give the same per-sample attention without that constraint: docs/method.md.)
class SemCkdLossImpl : public torch::nn::Module {
 public:
  /// Builds the projectors, queries and keys; throws kd::Error for empty or malformed shape
  /// lists, shapes that cannot pair (tokens with maps) or a non-positive embed_dim.
  SemCkdLossImpl(const std::vector<FeatureShape>& student_shapes,
                 const std::vector<FeatureShape>& teacher_shapes, int64_t embed_dim = 128,
                 const std::string& projector_kind = "SingleLayerConv");
  /// Returns the scalar loss; when `attention` is not null it receives the (B, n_student,
  /// n_teacher) weights (detached). Inputs, checks and gradients as AllPairsFeatureLoss: pass
  /// the teacher features detached; gradients reach the student features, the projectors and
  /// (through the attention) the queries and keys.
  torch::Tensor forward(const std::vector<torch::Tensor>& student,
                        const std::vector<torch::Tensor>& teacher,
                        torch::Tensor* attention = nullptr);

 private:
  std::vector<FeatureShape> student_shapes_, teacher_shapes_;
  int64_t embed_dim_;
  /// projectors_[i * n_teacher + j] maps student layer i to teacher layer j.
  std::vector<torch::nn::AnyModule> projectors_;
  std::vector<torch::nn::Linear> queries_, keys_;
};
TORCH_MODULE(SemCkdLoss);

}  // namespace kd
