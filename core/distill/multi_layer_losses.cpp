#include "distill/multi_layer_losses.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "distill/losses.h"
#include "distill/projector.h"

namespace kd {
namespace {

template <typename Sizes>
std::string shape_text(const Sizes& sizes) {
  std::ostringstream s;
  s << '[';
  bool first = true;
  for (const int64_t d : sizes) {
    s << (first ? "" : ", ") << d;
    first = false;
  }
  s << ']';
  return s.str();
}

/// A feature shape is ViT tokens (T, D) exactly when it has two dimensions.
bool is_tokens(const FeatureShape& shape) { return shape.size() == 2; }

/// Channels of a feature in align_features' layout: C of (C, H, W) and (C), D of tokens (T, D).
int64_t channels(const FeatureShape& shape) { return is_tokens(shape) ? shape[1] : shape[0]; }

void check_shapes(const std::vector<FeatureShape>& shapes, const std::string& side,
                  const std::string& loss) {
  if (shapes.empty()) throw Error(loss + ": no " + side + " layers given");
  for (size_t i = 0; i < shapes.size(); ++i) {
    const FeatureShape& shape = shapes[i];
    bool ok = !shape.empty() && shape.size() <= 3;
    for (const int64_t d : shape) ok = ok && d > 0;
    if (!ok) {
      throw Error(loss + ": " + side + " layer " + std::to_string(i) + " has shape " +
                  shape_text(shape) +
                  "; expected (C, H, W), (C) or ViT tokens (T, D) with positive sizes");
    }
  }
}

/// Channel counts and layout of the projector from student layer i to teacher layer j,
/// following align_features: a pair with tokens on either side is 1-D, and tokens do not pair
/// with (C, H, W) maps.
ProjectorOptions pair_layout(const std::vector<FeatureShape>& student_shapes,
                             const std::vector<FeatureShape>& teacher_shapes, size_t i, size_t j,
                             const std::string& loss) {
  const FeatureShape& s = student_shapes[i];
  const FeatureShape& t = teacher_shapes[j];
  const bool tokens = is_tokens(s) || is_tokens(t);
  if (tokens && (s.size() == 3 || t.size() == 3)) {
    throw Error(loss + ": cannot pair student layer " + std::to_string(i) + " " + shape_text(s) +
                " with teacher layer " + std::to_string(j) + " " + shape_text(t) +
                ": ViT tokens (T, D) do not pair with (C, H, W) maps");
  }
  return ProjectorOptions(channels(s), channels(t)).is_1d(tokens);
}

/// One projector per (student i, teacher j) pair, registered on `owner` as "proj_<i>_<j>",
/// in row-major order (index i * n_teacher + j).
std::vector<torch::nn::AnyModule> make_pair_projectors(
    torch::nn::Module& owner, const std::vector<FeatureShape>& student_shapes,
    const std::vector<FeatureShape>& teacher_shapes, const std::string& kind,
    const std::string& loss) {
  std::vector<torch::nn::AnyModule> projectors;
  for (size_t i = 0; i < student_shapes.size(); ++i) {
    for (size_t j = 0; j < teacher_shapes.size(); ++j) {
      const ProjectorOptions o = pair_layout(student_shapes, teacher_shapes, i, j, loss);
      torch::nn::AnyModule p =
          make_projector(kind, o.student_channels(), o.teacher_channels(), o.is_1d());
      owner.register_module("proj_" + std::to_string(i) + "_" + std::to_string(j), p.ptr());
      projectors.push_back(std::move(p));
    }
  }
  return projectors;
}

/// Checks one side's features against the construction shapes and returns their batch size.
int64_t check_features(const std::vector<torch::Tensor>& features,
                       const std::vector<FeatureShape>& shapes, const std::string& side,
                       const std::string& loss) {
  if (features.size() != shapes.size()) {
    throw Error(loss + ": expected " + std::to_string(shapes.size()) + " " + side +
                " features, got " + std::to_string(features.size()));
  }
  int64_t batch = -1;
  for (size_t i = 0; i < features.size(); ++i) {
    const torch::Tensor& f = features[i];
    const std::string where = loss + ": " + side + " feature " + std::to_string(i);
    if (!f.defined()) throw Error(where + " is an undefined tensor");
    const bool shape_ok = f.dim() == static_cast<int64_t>(shapes[i].size()) + 1 &&
                          f.sizes().slice(1).vec() == shapes[i];
    if (!shape_ok) {
      throw Error(where + " has shape " + shape_text(f.sizes()) + "; the loss was built for " +
                  shape_text(shapes[i]) + " after the batch dimension");
    }
    if (batch >= 0 && f.size(0) != batch) {
      throw Error(where + " has batch size " + std::to_string(f.size(0)) + ", " + side +
                  " feature 0 has " + std::to_string(batch));
    }
    batch = f.size(0);
  }
  return batch;
}

/// Validates both sides and that they share one batch size.
void check_inputs(const std::vector<torch::Tensor>& student,
                  const std::vector<torch::Tensor>& teacher,
                  const std::vector<FeatureShape>& student_shapes,
                  const std::vector<FeatureShape>& teacher_shapes, const std::string& loss) {
  const int64_t bs = check_features(student, student_shapes, "student", loss);
  const int64_t bt = check_features(teacher, teacher_shapes, "teacher", loss);
  if (bs != bt) {
    throw Error(loss + ": student features have batch size " + std::to_string(bs) +
                ", teacher features " + std::to_string(bt));
  }
}

/// Mean over the non-channel positions in align_features' layout: (B, C, H, W) -> (B, C),
/// tokens (B, T, D) -> (B, D), (B, C) unchanged.
torch::Tensor global_average(const torch::Tensor& feature) {
  if (feature.dim() == 2) return feature;
  if (feature.dim() == 3) return feature.mean({1});
  return feature.mean({2, 3});
}

/// (B): per sample, the mean over its elements of (projected - teacher)^2.
torch::Tensor per_sample_pair_loss(const torch::Tensor& projected, const torch::Tensor& teacher) {
  if (projected.sizes() != teacher.sizes()) {
    const std::string shapes =
        "student " + shape_text(projected.sizes()) + ", teacher " + shape_text(teacher.sizes());
    throw Error("projected student and teacher features differ in shape after alignment (" +
                shapes + ")");
  }
  return (projected - teacher).pow(2).flatten(1).mean({1});
}

const std::string kAllPairsName = "all-pairs feature loss";  // prefix of error messages
const std::string kSemCkdName = "SemCKD loss";               // prefix of error messages

}  // namespace

AllPairsFeatureLossImpl::AllPairsFeatureLossImpl(const std::vector<FeatureShape>& student_shapes,
                                                 const std::vector<FeatureShape>& teacher_shapes,
                                                 const std::string& projector_kind)
    : student_shapes_(student_shapes), teacher_shapes_(teacher_shapes) {
  check_shapes(student_shapes_, "student", kAllPairsName);
  check_shapes(teacher_shapes_, "teacher", kAllPairsName);
  projectors_ =
      make_pair_projectors(*this, student_shapes_, teacher_shapes_, projector_kind, kAllPairsName);
}

torch::Tensor AllPairsFeatureLossImpl::forward(const std::vector<torch::Tensor>& student,
                                               const std::vector<torch::Tensor>& teacher) {
  check_inputs(student, teacher, student_shapes_, teacher_shapes_, kAllPairsName);
  torch::Tensor total;
  for (size_t i = 0; i < student.size(); ++i) {
    for (size_t j = 0; j < teacher.size(); ++j) {
      const AlignedFeatures pair = align_features(student[i], teacher[j]);
      const torch::Tensor projected = projectors_[i * teacher.size() + j].forward(pair.student);
      const torch::Tensor loss = feature_pair_loss(projected, pair.teacher);
      total = total.defined() ? total + loss : loss;
    }
  }
  return total / static_cast<double>(teacher.size());
}

SemCkdLossImpl::SemCkdLossImpl(const std::vector<FeatureShape>& student_shapes,
                               const std::vector<FeatureShape>& teacher_shapes, int64_t embed_dim,
                               const std::string& projector_kind)
    : student_shapes_(student_shapes), teacher_shapes_(teacher_shapes), embed_dim_(embed_dim) {
  check_shapes(student_shapes_, "student", kSemCkdName);
  check_shapes(teacher_shapes_, "teacher", kSemCkdName);
  if (embed_dim_ <= 0) {
    throw Error(kSemCkdName + ": embedding size must be positive, got " +
                std::to_string(embed_dim_));
  }
  projectors_ =
      make_pair_projectors(*this, student_shapes_, teacher_shapes_, projector_kind, kSemCkdName);
  for (size_t i = 0; i < student_shapes_.size(); ++i) {
    queries_.push_back(register_module(
        "query_" + std::to_string(i), torch::nn::Linear(channels(student_shapes_[i]), embed_dim_)));
  }
  for (size_t j = 0; j < teacher_shapes_.size(); ++j) {
    keys_.push_back(register_module("key_" + std::to_string(j),
                                    torch::nn::Linear(channels(teacher_shapes_[j]), embed_dim_)));
  }
}

torch::Tensor SemCkdLossImpl::forward(const std::vector<torch::Tensor>& student,
                                      const std::vector<torch::Tensor>& teacher,
                                      torch::Tensor* attention) {
  check_inputs(student, teacher, student_shapes_, teacher_shapes_, kSemCkdName);
  std::vector<torch::Tensor> keys;
  for (size_t j = 0; j < teacher.size(); ++j) {
    keys.push_back(keys_[j]->forward(global_average(teacher[j])));
  }
  const torch::Tensor key = torch::stack(keys, 1);  // (B, n_teacher, embed_dim)
  const double scale = 1.0 / std::sqrt(static_cast<double>(embed_dim_));

  torch::Tensor total;
  std::vector<torch::Tensor> weights;
  for (size_t i = 0; i < student.size(); ++i) {
    const torch::Tensor query = queries_[i]->forward(global_average(student[i]));  // (B, E)
    const torch::Tensor scores = key.matmul(query.unsqueeze(2)).squeeze(2) * scale;
    const torch::Tensor alpha = torch::softmax(scores, 1);  // (B, n_teacher)
    std::vector<torch::Tensor> pair_losses;
    for (size_t j = 0; j < teacher.size(); ++j) {
      const AlignedFeatures pair = align_features(student[i], teacher[j]);
      const torch::Tensor projected = projectors_[i * teacher.size() + j].forward(pair.student);
      pair_losses.push_back(per_sample_pair_loss(projected, pair.teacher));
    }
    // mean over the batch of sum_j alpha_b,ij * l_b,ij
    const torch::Tensor layer_loss = (alpha * torch::stack(pair_losses, 1)).sum(1).mean();
    total = total.defined() ? total + layer_loss : layer_loss;
    weights.push_back(alpha);
  }
  if (attention != nullptr) *attention = torch::stack(weights, 1).detach();
  return total / static_cast<double>(student.size());
}

}  // namespace kd
