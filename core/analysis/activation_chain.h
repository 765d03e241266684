#pragma once
#include <torch/torch.h>

#include "common/progress.h"
#include "data/transforms.h"
#include "models/layered_model.h"

namespace kd {

/// Runs a model over a whole sample one generalized layer at a time, holding only the current
/// layer's outputs for all samples. Each layer's outputs are computed in batches from the
/// previous layer's and, when they are no larger, written over them in place, so the peak is
/// about the largest single layer's activations for the sample, and the model runs exactly once
/// per sample (no recomputation). This is what keeps the layer analysis' memory bounded.
class ActivationChain {
 public:
  /// Standardizes `images` (uint8, N x C x H x W) with `stats` onto `device`; the model is put in
  /// eval mode. Nothing runs yet: call advance() to reach layer 0.
  ActivationChain(LayeredModel& model, const torch::Tensor& images, const ChannelStats& stats,
                  torch::Device device, int64_t batch_size);

  /// Computes the next layer's outputs for every sample. Throws kd::Cancelled when asked to stop.
  void advance(ProgressSink* progress = nullptr);
  /// Index of the layer whose outputs are held (-1 before the first advance()).
  int layer() const { return layer_; }
  /// The held outputs, (N, ...) with the layer's output shape.
  const torch::Tensor& outputs() const { return current_; }
  /// The held outputs flattened to (N, D), max-pooled first when D > kMaxFeatureDim.
  torch::Tensor flat_features() const;

 private:
  LayeredModel& model_;
  torch::Device device_;
  int64_t batch_size_;
  int layer_ = -1;
  torch::Tensor current_;
};

}  // namespace kd
