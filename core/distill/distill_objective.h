#pragma once
// The loss of one training step for every method (method.md sections 4 and 5): which student
// features are taken, which losses are computed, and which parameters each loss reaches.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distill/method.h"
#include "distill/teacher_targets.h"
#include "io/safetensors.h"
#include "models/layered_model.h"

namespace kd {

/// The method-specific settings of an objective.
struct ObjectiveSettings {
  Method method = Method::kOurs;
  std::vector<int> teacher_layers;  ///< paired one-to-one with student_layers (all pairs for
                                    ///< fitnets_all and semckd)
  std::vector<int> student_layers;
  std::string projector = "SingleLayerConv";
  double temperature = 4.0;
  double ce_weight = 1.0;
  double kd_weight = 1.0;
  double feature_weight = 1.0;
};

/// The loss of one batch: the weighted total and its named, unweighted components ("ce", "kd",
/// "feat", "sp", "semckd"), plus the logits the accuracy is measured on.
struct LossBreakdown {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> parts;
  torch::Tensor logits;
};

/// One feature pair as the feature loss compares it.
struct ProjectedPair {
  torch::Tensor student;  ///< the student feature through the pair's projector
  torch::Tensor teacher;  ///< the teacher's target, same shape
};

/// One method's loss and the extra trainable modules it owns (projectors, SemCKD attention,
/// SimKD's copy of the teacher's tail). The student and teacher are borrowed and must outlive it.
class DistillObjective {
 public:
  /// `simkd_tail` is a second, trainable copy of the teacher (only for SimKD; its layers after
  /// the last teacher layer are used). Throws kd::Error for settings that do not fit the models.
  DistillObjective(ObjectiveSettings settings, LayeredModel& student, LayeredModel* teacher,
                   std::unique_ptr<LayeredModel> simkd_tail = nullptr);
  ~DistillObjective();

  /// What the teacher must provide per batch for these settings (empty for the student alone),
  /// without building the objective.
  static TeacherRequest request_for(const ObjectiveSettings& settings, const LayeredModel& student);

  /// What the teacher must provide per batch (empty for the student alone).
  const TeacherRequest& teacher_request() const { return request_; }

  /// The loss on a batch; `teacher` holds the outputs teacher_request() asked for.
  LossBreakdown compute(const torch::Tensor& images, const torch::Tensor& labels,
                        const TeacherBatch& teacher);
  /// The student's prediction as evaluated (SimKD: through its projector and tail).
  torch::Tensor predict(const torch::Tensor& images);

  /// The extra trainable parameters (not the student's).
  std::vector<torch::Tensor> parameters();
  /// The extra modules' parameters and buffers, by name (for checkpoints).
  NamedTensors named_state();
  /// Training or evaluation mode of the student and the extra modules.
  void set_training(bool on);
  /// Moves the extra modules.
  void to(const torch::Device& device);

  const ObjectiveSettings& settings() const { return settings_; }

  /// Number of one-to-one feature pairs with projectors (MethodTraits::feature_pairs; else 0).
  size_t projected_pairs() const { return projectors_.size(); }
  /// Pair `i` (< projected_pairs()) as the loss sees it: align_features() of the student layer's
  /// output and the teacher's (possibly reduced) feature, the student side through its projector.
  /// The pair's loss is feature_pair_loss(result.student, result.teacher).
  ProjectedPair project_pair(size_t i, const torch::Tensor& student_feat,
                             const torch::Tensor& teacher_feat);

 private:
  torch::Tensor pair_feature_loss(const std::vector<torch::Tensor>& student_feats,
                                  const TeacherBatch& teacher);
  torch::Tensor simkd_logits(const torch::Tensor& images);

  ObjectiveSettings settings_;
  MethodTraits traits_;
  LayeredModel& student_;
  LayeredModel* teacher_;
  std::unique_ptr<LayeredModel> simkd_tail_;
  TeacherRequest request_;
  std::shared_ptr<torch::nn::Module> extras_;  // projectors and loss modules, by name
  std::vector<torch::nn::AnyModule> projectors_;
  struct Losses;
  std::unique_ptr<Losses> losses_;
};

}  // namespace kd
