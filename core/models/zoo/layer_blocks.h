#pragma once
// Building blocks of the zoo networks. Each block is one generalized layer (method.md
// section 1) or the classifier tail, so the partition of a zoo model is exact by construction.
#include <torch/torch.h>

#include <string>
#include <utility>

namespace kd {
class OnnxGraph;
}

namespace kd::zoo {

/// Nonlinearity that ends a conv/linear layer.
enum class Activation { kNone, kReLU, kReLU6, kGELU };

/// A module with a single-tensor forward: the unit a zoo model chains.
class LayerBlockImpl : public torch::nn::Module {
 public:
  /// Runs the block.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  /// Short description shown in layer tables, e.g. "Conv2d+BatchNorm2d+ReLU".
  virtual std::string kind() const = 0;
  /// For a frozen copy that only ever runs in eval mode (a distillation teacher): merges every
  /// BatchNorm into the convolution before it and skips the BatchNorm from then on. Outputs stay
  /// those of eval mode up to float rounding; the block must not be trained afterwards.
  /// Returns whether anything was folded.
  virtual bool fold_batch_norm() { return false; }
  /// Appends this block's eval-mode computation (BatchNorm folded into the convolution, dropout
  /// off) to `graph`, reading the value `input`; returns the output value's name. The default
  /// throws kd::Error naming the block kind: a block without an ONNX mapping.
  virtual std::string to_onnx(OnnxGraph& graph, const std::string& input) const;
};

/// Merges eval-mode `bn` into `conv` (weight scaled per output channel, bias added or updated),
/// computed in double precision: conv then bn == the updated conv, to float rounding.
void fold_batch_norm_into(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

/// The weight and bias of `conv` followed by eval-mode `bn` as one convolution (double precision,
/// returned in the conv's dtype); `conv` is left as it is.
std::pair<torch::Tensor, torch::Tensor> folded_conv_weights(const torch::nn::Conv2dImpl& conv,
                                                            const torch::nn::BatchNorm2dImpl& bn);

/// Applies an Activation.
torch::Tensor activate(const torch::Tensor& x, Activation act);

/// [optional MaxPool2d(2, ceil)] + Conv2d(k, stride; bias only for VGG, as in torchvision) +
/// BatchNorm2d + activation.
class ConvBnActImpl : public LayerBlockImpl {
 public:
  ConvBnActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, Activation act,
                int64_t groups = 1, bool pool_first = false, bool bias = false);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override;
  bool fold_batch_norm() override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  Activation act_;
  bool pool_first_;
  bool folded_ = false;
};

/// ResNet basic block: two 3x3 convs with BN, identity or 1x1-conv shortcut, ReLU after the sum.
class BasicBlockImpl : public LayerBlockImpl {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override { return "BasicBlock"; }
  bool fold_batch_norm() override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
  bool folded_ = false;
};

/// MobileNetV2 inverted residual: 1x1 expand (if t > 1), 3x3 depthwise, 1x1 linear projection;
/// residual when stride 1 and in == out.
class InvertedResidualImpl : public LayerBlockImpl {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override { return "InvertedResidual"; }
  bool fold_batch_norm() override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::Sequential conv_{nullptr};
  bool use_residual_;
  bool folded_ = false;
};

/// [optional MaxPool2d(2, ceil)] or global average pool, then Flatten: (B,C,H,W) -> (B,C*H*W).
class PoolFlattenImpl : public LayerBlockImpl {
 public:
  enum class Pool { kGlobalAverage, kMax2 };
  explicit PoolFlattenImpl(Pool pool) : pool_(pool) {}
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  Pool pool_;
};

/// [optional Dropout] + Linear + ReLU: a head layer of VGG.
class LinearActImpl : public LayerBlockImpl {
 public:
  LinearActImpl(int64_t in, int64_t out, double dropout_before);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::Linear fc_{nullptr};
  double dropout_;
};

/// ViT input layer: patch embedding (Conv2d with stride = patch), class token, position embedding.
/// Output (B, 1 + patches, dim).
class PatchEmbedImpl : public LayerBlockImpl {
 public:
  PatchEmbedImpl(int64_t channels, int64_t image_size, int64_t patch, int64_t dim);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override { return "PatchEmbed+ClassToken+PositionEmbedding"; }

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::Conv2d proj_{nullptr};
  torch::Tensor cls_token_, pos_embed_;
};

/// Pre-norm transformer encoder block: x + MHSA(LN(x)); x + MLP(LN(x)) with GELU.
class EncoderBlockImpl : public LayerBlockImpl {
 public:
  EncoderBlockImpl(int64_t dim, int64_t heads, int64_t mlp_dim);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override { return "EncoderBlock"; }

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::Tensor attention(const torch::Tensor& x);
  int64_t heads_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};

/// The classifier tail: [LayerNorm + mean over tokens] (ViT) + [Dropout] + Linear -> logits.
class ClassifierImpl : public LayerBlockImpl {
 public:
  ClassifierImpl(int64_t in, int64_t classes, double dropout, bool token_mean_with_norm);
  torch::Tensor forward(torch::Tensor x) override;
  std::string kind() const override;

  std::string to_onnx(OnnxGraph& graph, const std::string& input) const override;

 private:
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear fc_{nullptr};
  double dropout_;
};

}  // namespace kd::zoo
