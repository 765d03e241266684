#pragma once
#include <torch/torch.h>

#include <vector>

#include "common/progress.h"
#include "data/transforms.h"
#include "models/layered_model.h"

namespace kd {

/// Options for running a model over a sample and keeping some layers' outputs.
struct ExtractOptions {
  int64_t batch_size = 256;
  torch::Device device = torch::kCPU;
  /// Max-pool maps whose flattened size exceeds kMaxFeatureDim (method.md section 2).
  bool pool_large_maps = true;
};

/// Flattened size of a layer's output after the optional max-pool of large maps.
int64_t extracted_dim(const LayerInfo& layer, bool pool_large_maps = true);

/// One batch of a layer's output (batch first) flattened to (B, D) float32, a large (C,H,W) map
/// max-pooled first as extract_features() does.
torch::Tensor flatten_layer_output(const torch::Tensor& output, bool pool_large_maps = true);
/// Runs `model` (eval mode, no grad) over `images` (uint8, N x C x H x W), standardized with
/// `stats`, and returns for each of `layers` its flattened features, (N, D_l) float32 on the
/// options' device. Only these layers' features are kept; the model runs as deep as the deepest.
/// Reports progress per batch; throws kd::Cancelled when cancelled.
std::vector<torch::Tensor> extract_features(LayeredModel& model, const torch::Tensor& images,
                                            const ChannelStats& stats,
                                            const std::vector<int>& layers,
                                            const ExtractOptions& options = {},
                                            ProgressSink* progress = nullptr);

/// Splits layer indices into consecutive groups whose features for `samples` rows fit in
/// `budget_bytes` (a layer larger than the budget gets a group of its own).
std::vector<std::vector<int>> group_layers_by_memory(const std::vector<LayerInfo>& layers,
                                                     int64_t samples, int64_t budget_bytes);

/// Throws kd::Error when the dataset's images or classes do not fit the model.
void check_model_fits_data(const LayeredModel& model, int64_t channels, int64_t height,
                           int64_t width, int64_t num_classes);

}  // namespace kd
