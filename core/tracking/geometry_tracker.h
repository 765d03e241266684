#pragma once
// Geometry tracking (docs/geometry-tracking.md): while a student trains, how far each distilled
// student layer has taken on its teacher layer's geometry, measured on a fixed probe sample with
// the analysis' own functions (knowledge_quality, linear CKA, NCC accuracy, PCA).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "analysis/geometry.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "distill/distill_objective.h"
#include "models/layered_model.h"
#include "tracking/geometry_log.h"

namespace kd {

class GeometryTracker {
 public:
  /// Why runs with `objective` cannot be tracked (empty when they can): tracking follows the
  /// one-to-one projected feature pairs of ours and FitNets-style methods.
  static std::string unsupported_reason(const ObjectiveSettings& objective);

  /// Chooses the probe (a class-balanced sample of `train_indices`, settings.per_class per class,
  /// settings.max_samples at most) and measures the teacher's side once: its layers' centered
  /// Gram matrices, the paired layers' S/I/E/Q and the pairs' targets on their principal axes.
  /// The models and the objective are borrowed, already on `device`. Throws kd::Error when the
  /// method has no projected pairs or the probe is too small (fewer than 3 samples).
  GeometryTracker(const TrackingSettings& settings, const DatasetSplit& train,
                  const std::vector<int64_t>& train_indices, const ChannelStats& stats,
                  LayeredModel& teacher, LayeredModel& student, DistillObjective& objective,
                  torch::Device device);

  const GeometryProbe& probe() const { return probe_; }
  /// The probe's rows of the training split (uint8 images) and labels.
  const torch::Tensor& images() const { return images_; }
  const torch::Tensor& labels() const { return labels_; }

  /// Measures the student now, without gradients and in eval mode (the objective is left in
  /// eval mode: the caller switches training back on).
  GeometrySnapshot snapshot(int epoch, int64_t step, bool partial);

 private:
  TrackingSettings settings_;
  ChannelStats stats_;
  LayeredModel& student_;
  DistillObjective& objective_;
  torch::Device device_;
  torch::Tensor images_, labels_, labels_device_;
  GeometryProbe probe_;
  std::vector<torch::Tensor> teacher_grams_;    ///< every teacher layer, centered N x N
  std::vector<torch::Tensor> targets_;          ///< per pair: the teacher's feature as the loss takes it
  std::vector<PcaAxes> axes_;                   ///< per pair: the target's principal axes
  std::vector<int> student_layers_;
};

/// Starts a seed's geometry.jsonl at `path`: the probe line, then the snapshots of an earlier file
/// taken before `epochs_done` (a resumed run), which are returned. An earlier file of another probe,
/// or one that cannot be read, is replaced. Written atomically.
std::vector<GeometrySnapshot> start_geometry_log(const std::string& path, const GeometryProbe& probe,
                                                 int epochs_done);
/// Appends a snapshot's line.
void append_geometry_snapshot(const std::string& path, const GeometrySnapshot& snapshot);

}  // namespace kd
