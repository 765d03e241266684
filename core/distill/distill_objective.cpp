#include "distill/distill_objective.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "distill/losses.h"
#include "distill/multi_layer_losses.h"
#include "distill/projector.h"

namespace kd {

struct DistillObjective::Losses {
  AllPairsFeatureLoss all_pairs{nullptr};
  SemCkdLoss semckd{nullptr};
  torch::nn::AnyModule simkd_projector;
};

namespace {

std::string join(const std::vector<int>& v) {
  std::string t;
  for (size_t i = 0; i < v.size(); ++i) t += (i ? "," : "") + std::to_string(v[i]);
  return t;
}

void check_layers(const LayeredModel& model, const std::vector<int>& layers, const char* side) {
  for (int l : layers) {
    if (l < 0 || l >= model.num_layers()) {
      throw Error(std::string(side) + " layer " + std::to_string(l) + " is out of range: " +
                  model.architecture() + " has layers 0-" + std::to_string(model.num_layers() - 1));
    }
  }
}

// Channels of a feature in align_features' layout: C of (C,H,W) or (C), D of tokens (T,D).
int64_t aligned_channels(const std::vector<int64_t>& shape) {
  return shape.size() == 2 ? shape[1] : shape[0];
}

bool is_tokens(const std::vector<int64_t>& shape) { return shape.size() == 2; }

std::vector<FeatureShape> shapes_of(const LayeredModel& model, const std::vector<int>& layers) {
  std::vector<FeatureShape> out;
  for (int l : layers) out.push_back(model.layers().at(static_cast<size_t>(l)).shape);
  return out;
}

}  // namespace

DistillObjective::DistillObjective(ObjectiveSettings settings, LayeredModel& student,
                                   LayeredModel* teacher, std::unique_ptr<LayeredModel> simkd_tail)
    : settings_(std::move(settings)),
      traits_(method_traits(settings_.method)),
      student_(student),
      teacher_(teacher),
      simkd_tail_(std::move(simkd_tail)),
      extras_(std::make_shared<torch::nn::Module>("Objective")),
      losses_(std::make_unique<Losses>()) {
  const Method m = settings_.method;
  if (traits_.needs_teacher && !teacher_) {
    throw Error("method '" + method_name(m) + "' needs a teacher");
  }
  if (teacher_ && teacher_->num_classes() != student_.num_classes()) {
    throw Error("the teacher predicts " + std::to_string(teacher_->num_classes()) +
                " classes but the student " + std::to_string(student_.num_classes()));
  }
  const bool uses_layers = traits_.feature_pairs || traits_.all_pairs ||
                           m == Method::kSimilarityPreserving || m == Method::kSimKD;
  if (uses_layers) {
    if (settings_.student_layers.empty() || settings_.teacher_layers.empty()) {
      throw Error("method '" + method_name(m) + "' needs student and teacher layers");
    }
    check_layers(student_, settings_.student_layers, "student");
    check_layers(*teacher_, settings_.teacher_layers, "teacher");
    const bool one_to_one = !traits_.all_pairs;
    if (one_to_one && settings_.student_layers.size() != settings_.teacher_layers.size()) {
      throw Error("method '" + method_name(m) + "' pairs layers one-to-one, but " +
                  std::to_string(settings_.student_layers.size()) + " student layers [" +
                  join(settings_.student_layers) + "] and " +
                  std::to_string(settings_.teacher_layers.size()) + " teacher layers [" +
                  join(settings_.teacher_layers) + "] were given");
    }
  }
  const auto s_shapes = shapes_of(student_, settings_.student_layers);
  const auto t_shapes = teacher_ ? shapes_of(*teacher_, settings_.teacher_layers)
                                 : std::vector<FeatureShape>{};
  request_ = request_for(settings_, student_);
  if (traits_.feature_pairs) {
    for (size_t i = 0; i < s_shapes.size(); ++i) {
      auto proj = make_projector(settings_.projector, aligned_channels(s_shapes[i]),
                                 aligned_channels(t_shapes[i]),
                                 is_tokens(s_shapes[i]) || is_tokens(t_shapes[i]));
      extras_->register_module("proj_" + std::to_string(i), proj.ptr());
      projectors_.push_back(std::move(proj));
    }
  } else if (m == Method::kFitNetsAllPairs) {
    losses_->all_pairs = AllPairsFeatureLoss(s_shapes, t_shapes, settings_.projector);
    extras_->register_module("all_pairs", losses_->all_pairs);
  } else if (m == Method::kSemCKD) {
    losses_->semckd = SemCkdLoss(s_shapes, t_shapes, 128, settings_.projector);
    extras_->register_module("semckd", losses_->semckd);
  } else if (m == Method::kSimKD) {
    if (!simkd_tail_) throw Error("SimKD needs a trainable copy of the teacher");
    const auto& s = s_shapes.back();
    const auto& t = t_shapes.back();
    if (s.size() != 3 || t.size() != 3) {
      throw Error("SimKD needs convolutional (C, H, W) features at its last student and teacher "
                  "layers");
    }
    losses_->simkd_projector = make_projector("ThreeLayerConv", s[0], t[0], false);
    extras_->register_module("simkd_proj", losses_->simkd_projector.ptr());
  }
}

DistillObjective::~DistillObjective() = default;

TeacherRequest DistillObjective::request_for(const ObjectiveSettings& settings,
                                             const LayeredModel& student) {
  const MethodTraits traits = method_traits(settings.method);
  TeacherRequest request;
  request.logits = traits.uses_kd;
  if (traits.feature_pairs || traits.all_pairs ||
      settings.method == Method::kSimilarityPreserving) {
    request.layers = settings.teacher_layers;
  }
  if (traits.feature_pairs) request.reduce_to = shapes_of(student, settings.student_layers);
  return request;
}

ProjectedPair DistillObjective::project_pair(size_t i, const torch::Tensor& student_feat,
                                             const torch::Tensor& teacher_feat) {
  if (i >= projectors_.size()) {
    throw Error("feature pair " + std::to_string(i) + " does not exist: method '" +
                method_name(settings_.method) + "' has " + std::to_string(projectors_.size()) +
                " projected pairs");
  }
  const AlignedFeatures a = align_features(student_feat, teacher_feat);
  return {projectors_[i].forward(a.student), a.teacher};
}

torch::Tensor DistillObjective::pair_feature_loss(const std::vector<torch::Tensor>& student_feats,
                                                  const TeacherBatch& teacher) {
  torch::Tensor sum;
  for (size_t i = 0; i < student_feats.size(); ++i) {
    const ProjectedPair p = project_pair(i, student_feats[i], teacher.features.at(i));
    const torch::Tensor l = feature_pair_loss(p.student, p.teacher);
    sum = sum.defined() ? sum + l : l;
  }
  return sum / static_cast<double>(student_feats.size());
}

torch::Tensor DistillObjective::simkd_logits(const torch::Tensor& images) {
  const int s_last = settings_.student_layers.back();
  const int t_last = settings_.teacher_layers.back();
  const torch::Tensor f = student_.forward_to(images, s_last);
  const auto& t_shape = teacher_->layers().at(static_cast<size_t>(t_last)).shape;
  const torch::Tensor pooled = torch::adaptive_avg_pool2d(f, {t_shape[1], t_shape[2]});
  return simkd_tail_->forward_from(losses_->simkd_projector.forward(pooled), t_last);
}

LossBreakdown DistillObjective::compute(const torch::Tensor& images, const torch::Tensor& labels,
                                        const TeacherBatch& teacher) {
  LossBreakdown out;
  const Method m = settings_.method;
  std::vector<torch::Tensor> feats;
  torch::Tensor feature_term;
  std::string feature_name = "feat";
  if (m == Method::kSimKD) {
    out.logits = simkd_logits(images);
  } else if (traits_.feature_pairs || traits_.all_pairs || m == Method::kSimilarityPreserving) {
    const auto& layers = settings_.student_layers;
    if (traits_.detached_head) {
      feats = student_.features(images, layers);
      const auto deepest = std::max_element(layers.begin(), layers.end()) - layers.begin();
      // The head learns from a detached feature: no CE gradient reaches the backbone.
      out.logits = student_.forward_from(feats[static_cast<size_t>(deepest)].detach(),
                                         layers[static_cast<size_t>(deepest)]);
    } else {
      feats = student_.features(images, layers, &out.logits);
    }
    if (traits_.feature_pairs) {
      feature_term = pair_feature_loss(feats, teacher);
    } else if (m == Method::kFitNetsAllPairs) {
      feature_term = losses_->all_pairs->forward(feats, teacher.features);
    } else if (m == Method::kSemCKD) {
      feature_term = losses_->semckd->forward(feats, teacher.features);
      feature_name = "semckd";
    } else {
      for (size_t i = 0; i < feats.size(); ++i) {
        const torch::Tensor l = similarity_preserving_loss(feats[i], teacher.features.at(i));
        feature_term = feature_term.defined() ? feature_term + l : l;
      }
      feature_term = feature_term / static_cast<double>(feats.size());
      feature_name = "sp";
    }
  } else {
    out.logits = student_.forward(images);
  }
  const torch::Tensor ce = torch::nn::functional::cross_entropy(out.logits, labels);
  out.parts.emplace_back("ce", ce);
  out.total = settings_.ce_weight * ce;
  if (traits_.uses_kd) {
    const torch::Tensor kd = kd_loss(out.logits, teacher.logits.detach(), settings_.temperature,
                                     traits_.standardize_logits);
    out.parts.emplace_back("kd", kd);
    out.total = out.total + settings_.kd_weight * kd;
  }
  if (feature_term.defined()) {
    out.parts.emplace_back(feature_name, feature_term);
    out.total = out.total + settings_.feature_weight * feature_term;
  }
  return out;
}

torch::Tensor DistillObjective::predict(const torch::Tensor& images) {
  return settings_.method == Method::kSimKD ? simkd_logits(images) : student_.forward(images);
}

std::vector<torch::Tensor> DistillObjective::parameters() {
  std::vector<torch::Tensor> p = extras_->parameters();
  if (simkd_tail_) {
    for (auto& t : simkd_tail_->parameters()) p.push_back(t);
  }
  return p;
}

NamedTensors DistillObjective::named_state() {
  NamedTensors out;
  for (const auto& item : extras_->named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : extras_->named_buffers()) out.emplace_back(item.key(), item.value());
  if (simkd_tail_) {
    for (auto& [name, t] : simkd_tail_->named_state()) out.emplace_back("simkd_tail." + name, t);
  }
  return out;
}

void DistillObjective::set_training(bool on) {
  student_.set_training(on);
  extras_->train(on);
  if (simkd_tail_) simkd_tail_->set_training(on);
}

void DistillObjective::to(const torch::Device& device) {
  extras_->to(device);
  if (simkd_tail_) simkd_tail_->to(device);
}

}  // namespace kd
