#include "models/zoo/zoo_model.h"

#include <map>

#include "common/error.h"
#include "models/zoo/zoo_builder.h"

namespace kd::zoo {

ZooNetworkImpl::ZooNetworkImpl() { layers_ = register_module("layers", torch::nn::ModuleList()); }

void ZooNetworkImpl::add_layer(std::shared_ptr<LayerBlockImpl> block) {
  layers_->push_back(block);
  blocks.push_back(std::move(block));
}

void ZooNetworkImpl::set_classifier(std::shared_ptr<LayerBlockImpl> block) {
  classifier = register_module("classifier", std::move(block));
}

ZooModel::ZooModel(ZooSpec spec, ZooNetwork net, int head_start)
    : spec_(std::move(spec)), net_(std::move(net)), head_start_(head_start) {
  // Probe with two samples in eval mode to record every layer's output shape.
  torch::NoGradGuard no_grad;
  const bool was_training = net_->is_training();
  net_->eval();
  torch::Tensor h = torch::zeros({2, spec_.channels, spec_.size, spec_.size});
  for (size_t i = 0; i < net_->blocks.size(); ++i) {
    const auto& block = net_->blocks[i];
    h = block->forward(h);
    LayerInfo info;
    info.index = static_cast<int>(i);
    info.name = "layers." + std::to_string(i);
    info.kind = block->kind();
    info.shape.assign(h.sizes().begin() + 1, h.sizes().end());
    for (const auto& p : block->parameters()) info.params += p.numel();
    info.in_head = static_cast<int>(i) >= head_start_;
    layers_.push_back(std::move(info));
  }
  const torch::Tensor logits = net_->classifier->forward(h);
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == spec_.classes,
              "zoo network for ", spec_.to_string(), " produced logits of shape ", logits.sizes());
  net_->train(was_training);
}

torch::Tensor ZooModel::forward_range(const torch::Tensor& x, int first, int last) {
  torch::Tensor h = x;
  if (channels_last_input_ && first <= 0 && last >= 0 && h.dim() == 4) {
    h = h.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  for (int l = std::max(first, 0); l <= last; ++l) {
    h = net_->blocks.at(static_cast<size_t>(l))->forward(h);
  }
  return h;
}

torch::Tensor ZooModel::forward_tail(const torch::Tensor& x) {
  return net_->classifier->forward(x);
}

std::unique_ptr<LayeredModel> ZooModel::inference_copy(const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::unique_ptr<ZooModel> copy = create_zoo_model(spec_);
  std::map<std::string, torch::Tensor> mine;
  for (auto& [name, t] : named_state()) mine.emplace(name, t);
  for (auto& [name, t] : copy->named_state()) t.copy_(mine.at(name));
  copy->set_training(false);
  copy->to(device);  // first: the folded biases are plain members that to() would not move
  bool folded = false;
  for (const auto& block : copy->net_->blocks) folded = block->fold_batch_norm() || folded;
  if (!folded) return nullptr;
  if (device.is_cpu()) {
    // oneDNN runs NHWC convolutions without reordering activations on every call. Not applied
    // on CUDA, where it is unmeasured (docs/gpu.md).
    for (auto& p : copy->net_->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    copy->channels_last_input_ = true;
  }
  return copy;
}

std::vector<std::pair<std::string, torch::Tensor>> ZooModel::named_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : net_->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net_->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace kd::zoo
