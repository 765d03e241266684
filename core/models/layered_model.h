#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kd {

/// One generalized layer (method.md section 1) as shown to users.
struct LayerInfo {
  int index = 0;
  std::string name;             ///< module path of the layer's last module, e.g. "layers.3"
  std::string kind;             ///< what it is made of, e.g. "BasicBlock" or "Conv2d+BatchNorm2d+ReLU"
  std::vector<int64_t> shape;   ///< output shape without the batch dimension
  int64_t params = 0;           ///< trainable parameters inside this layer
  bool in_head = false;         ///< true from the first Linear on
};

/// The input a model takes: channels x height x width.
struct InputShape {
  int64_t channels = 3;
  int64_t height = 32;
  int64_t width = 32;
};

/// Every model KD Studio handles, zoo or imported: an ordered chain of generalized layers
/// followed by a classifier tail (the modules after the last generalized layer, e.g. the final
/// Linear). A model with zero layers is "logits only": its tail is the whole model.
class LayeredModel {
 public:
  virtual ~LayeredModel() = default;

  /// Zoo spec ("resnet9:channels=1,size=28") or a description of the imported file.
  virtual std::string architecture() const = 0;
  /// The generalized layers in execution order.
  virtual const std::vector<LayerInfo>& layers() const = 0;
  /// Number of generalized layers.
  int num_layers() const { return static_cast<int>(layers().size()); }
  /// Shape of one input sample.
  virtual InputShape input_shape() const = 0;
  /// Number of classes of the logits.
  virtual int64_t num_classes() const = 0;
  /// Index of the first generalized layer in the head (num_layers() when only the tail is).
  virtual int head_start() const = 0;

  /// Runs layers first..last (inclusive) on x, which is the model input when first == 0 and
  /// layer first-1's output otherwise. An empty range (last < first) returns x.
  virtual torch::Tensor forward_range(const torch::Tensor& x, int first, int last) = 0;
  /// Runs the classifier tail on the last generalized layer's output (or on the input when the
  /// model has no layers).
  virtual torch::Tensor forward_tail(const torch::Tensor& x) = 0;
  /// The whole model: input -> logits.
  virtual torch::Tensor forward(const torch::Tensor& x);

  /// Input -> output of generalized layer `layer`.
  torch::Tensor forward_to(const torch::Tensor& x, int layer);
  /// Output of generalized layer `layer` -> logits (the rest of the model).
  torch::Tensor forward_from(const torch::Tensor& feature, int layer);
  /// Outputs of the given layers (any order, no duplicates needed) in one pass; also the logits
  /// when `logits` is not null. Runs only as deep as needed when logits are not asked for.
  std::vector<torch::Tensor> features(const torch::Tensor& x, const std::vector<int>& layers,
                                      torch::Tensor* logits = nullptr);

  /// Every trainable parameter (for optimizers).
  virtual std::vector<torch::Tensor> parameters() = 0;
  /// Parameters and buffers by dotted name (the state dict).
  virtual std::vector<std::pair<std::string, torch::Tensor>> named_state() = 0;
  /// Training or evaluation mode (BatchNorm, Dropout).
  virtual void set_training(bool on) = 0;
  /// Moves parameters and buffers.
  virtual void to(const torch::Device& device) = 0;
  /// Total trainable parameter count.
  int64_t parameter_count();

  /// A separate copy of this model for frozen, eval-mode inference on `device` (what a
  /// distillation teacher does): BatchNorm folded into the convolution before it and, on the
  /// CPU, weights and activations in channels-last layout. Every layer's output equals this
  /// model's in eval mode to float rounding. nullptr when there is nothing to gain (a model
  /// without BatchNorm) or the model cannot be rebuilt (imported TorchScript). The copy holds
  /// its own weights: later changes to this model do not reach it.
  virtual std::unique_ptr<LayeredModel> inference_copy(const torch::Device& device);

 protected:
  /// Throws kd::Error naming the model when `layer` is not a valid index.
  void check_layer(int layer) const;
};

}  // namespace kd
