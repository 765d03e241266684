#include "analysis/feature_extractor.h"

#include "analysis/knowledge_quality.h"
#include "common/error.h"

namespace kd {

namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

torch::Tensor flatten_layer_output(const torch::Tensor& f, bool pool_large_maps) {
  torch::Tensor x = f;
  if (pool_large_maps && x.dim() == 4) {
    const int64_t k = feature_pool_factor(x[0].numel());
    if (k > 1) {
      namespace F = torch::nn::functional;
      x = F::max_pool2d(x, F::MaxPool2dFuncOptions(k).stride(k).ceil_mode(true));
    }
  }
  return x.reshape({x.size(0), -1}).to(torch::kFloat32);
}

int64_t extracted_dim(const LayerInfo& layer, bool pool_large_maps) {
  const int64_t d = numel_of(layer.shape);
  if (!pool_large_maps || layer.shape.size() != 3) return d;
  const int64_t k = feature_pool_factor(d);
  if (k == 1) return d;
  const int64_t h = (layer.shape[1] + k - 1) / k, w = (layer.shape[2] + k - 1) / k;
  return layer.shape[0] * h * w;
}

std::vector<torch::Tensor> extract_features(LayeredModel& model, const torch::Tensor& images,
                                            const ChannelStats& stats,
                                            const std::vector<int>& layers,
                                            const ExtractOptions& options,
                                            ProgressSink* progress) {
  torch::NoGradGuard no_grad;
  model.set_training(false);
  model.to(options.device);
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> out(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t d = extracted_dim(model.layers().at(static_cast<size_t>(layers[i])),
                                    options.pool_large_maps);
    out[i] = torch::empty({n, d}, torch::TensorOptions().dtype(torch::kFloat32).device(options.device));
  }
  for (int64_t start = 0; start < n; start += options.batch_size) {
    throw_if_cancelled(progress);
    const int64_t end = std::min(n, start + options.batch_size);
    torch::Tensor x = to_normalized_float(images.slice(0, start, end), stats).to(options.device);
    const std::vector<torch::Tensor> feats = model.features(x, layers);
    for (size_t i = 0; i < layers.size(); ++i) {
      out[i].slice(0, start, end).copy_(flatten_layer_output(feats[i], options.pool_large_maps));
    }
    if (progress != nullptr) {
      progress->progress(static_cast<double>(end) / static_cast<double>(n),
                         "features " + std::to_string(end) + "/" + std::to_string(n));
    }
  }
  return out;
}

std::vector<std::vector<int>> group_layers_by_memory(const std::vector<LayerInfo>& layers,
                                                     int64_t samples, int64_t budget_bytes) {
  std::vector<std::vector<int>> groups;
  int64_t used = 0;
  for (const auto& l : layers) {
    const int64_t bytes = extracted_dim(l) * samples * static_cast<int64_t>(sizeof(float));
    if (groups.empty() || used + bytes > budget_bytes) {
      groups.emplace_back();
      used = 0;
    }
    groups.back().push_back(l.index);
    used += bytes;
  }
  return groups;
}

void check_model_fits_data(const LayeredModel& model, int64_t channels, int64_t height,
                           int64_t width, int64_t num_classes) {
  const InputShape in = model.input_shape();
  if (in.channels != channels || in.height != height || in.width != width) {
    throw Error("the model " + model.architecture() + " takes " + std::to_string(in.channels) +
                "x" + std::to_string(in.height) + "x" + std::to_string(in.width) +
                " inputs but the dataset's images are " + std::to_string(channels) + "x" +
                std::to_string(height) + "x" + std::to_string(width) +
                " (for a zoo model, set channels= and size= to match)");
  }
  if (model.num_classes() != num_classes) {
    throw Error("the model " + model.architecture() + " has " +
                std::to_string(model.num_classes()) + " output classes but the dataset has " +
                std::to_string(num_classes));
  }
}

}  // namespace kd
