#include "models/zoo/zoo_model.h"

#include "common/error.h"

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
  for (int l = std::max(first, 0); l <= last; ++l) {
    h = net_->blocks.at(static_cast<size_t>(l))->forward(h);
  }
  return h;
}

torch::Tensor ZooModel::forward_tail(const torch::Tensor& x) {
  return net_->classifier->forward(x);
}

std::vector<std::pair<std::string, torch::Tensor>> ZooModel::named_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : net_->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net_->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace kd::zoo
