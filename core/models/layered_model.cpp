#include "models/layered_model.h"

#include <algorithm>

#include "common/error.h"

namespace kd {

torch::Tensor LayeredModel::forward(const torch::Tensor& x) {
  return forward_tail(forward_range(x, 0, num_layers() - 1));
}

void LayeredModel::check_layer(int layer) const {
  const int n = static_cast<int>(layers().size());
  if (layer < 0 || layer >= n) {
    throw Error("layer index " + std::to_string(layer) + " is out of range for " +
                architecture() + " (it has " + std::to_string(n) + " generalized layers, 0.." +
                std::to_string(n - 1) + ")");
  }
}

torch::Tensor LayeredModel::forward_to(const torch::Tensor& x, int layer) {
  check_layer(layer);
  return forward_range(x, 0, layer);
}

torch::Tensor LayeredModel::forward_from(const torch::Tensor& feature, int layer) {
  check_layer(layer);
  return forward_tail(forward_range(feature, layer + 1, num_layers() - 1));
}

std::vector<torch::Tensor> LayeredModel::features(const torch::Tensor& x,
                                                  const std::vector<int>& wanted,
                                                  torch::Tensor* logits) {
  for (int l : wanted) check_layer(l);
  std::vector<torch::Tensor> out(wanted.size());
  int deepest = -1;
  for (int l : wanted) deepest = std::max(deepest, l);
  const int last = logits != nullptr ? num_layers() - 1 : deepest;
  torch::Tensor h = x;
  for (int l = 0; l <= last; ++l) {
    h = forward_range(h, l, l);
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i] == l) out[i] = h;
    }
  }
  if (logits != nullptr) *logits = forward_tail(h);
  return out;
}

std::unique_ptr<LayeredModel> LayeredModel::inference_copy(const torch::Device&) {
  return nullptr;
}

int64_t LayeredModel::parameter_count() {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace kd
