#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/layered_model.h"
#include "models/zoo/layer_blocks.h"
#include "models/zoo/zoo_spec.h"

namespace kd::zoo {

/// The torch module of a zoo network: `layers` (a ModuleList, one entry per generalized layer)
/// and `classifier` (the tail). State-dict names are therefore "layers.<i>.<...>" and
/// "classifier.<...>" (docs/model-files.md lists them per block type).
class ZooNetworkImpl : public torch::nn::Module {
 public:
  ZooNetworkImpl();
  /// Appends a generalized layer.
  void add_layer(std::shared_ptr<LayerBlockImpl> block);
  /// Sets the classifier tail.
  void set_classifier(std::shared_ptr<LayerBlockImpl> block);

  std::vector<std::shared_ptr<LayerBlockImpl>> blocks;  ///< the generalized layers, in order
  std::shared_ptr<LayerBlockImpl> classifier;

 private:
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(ZooNetwork);

/// A built-in model: a ZooNetwork with its spec and layer table.
class ZooModel final : public LayeredModel {
 public:
  /// Takes a built network; computes the layer table with a probe batch. `head_start` is the
  /// index of the first head layer (num layers when the head is the classifier alone).
  ZooModel(ZooSpec spec, ZooNetwork net, int head_start);

  std::string architecture() const override { return spec_.to_string(); }
  const std::vector<LayerInfo>& layers() const override { return layers_; }
  InputShape input_shape() const override { return {spec_.channels, spec_.size, spec_.size}; }
  int64_t num_classes() const override { return spec_.classes; }
  int head_start() const override { return head_start_; }
  torch::Tensor forward_range(const torch::Tensor& x, int first, int last) override;
  torch::Tensor forward_tail(const torch::Tensor& x) override;
  std::vector<torch::Tensor> parameters() override { return net_->parameters(); }
  std::vector<std::pair<std::string, torch::Tensor>> named_state() override;
  void set_training(bool on) override { net_->train(on); }
  void to(const torch::Device& device) override { net_->to(device); }
  std::unique_ptr<LayeredModel> inference_copy(const torch::Device& device) override;

  /// The spec it was built from.
  const ZooSpec& spec() const { return spec_; }
  /// The underlying torch module (for optimizers, serialization).
  ZooNetwork& network() { return net_; }

 private:
  ZooSpec spec_;
  ZooNetwork net_;
  int head_start_;
  std::vector<LayerInfo> layers_;
  bool channels_last_input_ = false;
};

}  // namespace kd::zoo
