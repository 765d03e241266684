#pragma once
// Projectors that map student feature channels to teacher channels (method.md section 4).
// Each works on (B, C, H, W) maps or, with is_1d, on (B, D, T) ViT tokens (see align_features).
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>

namespace kd {

/// Channel counts and layout of a projector.
struct ProjectorOptions {
  ProjectorOptions(int64_t student_channels, int64_t teacher_channels)
      : student_channels_(student_channels), teacher_channels_(teacher_channels) {}
  TORCH_ARG(int64_t, student_channels);
  TORCH_ARG(int64_t, teacher_channels);
  /// Conv1d/BatchNorm1d on (B, D, T) instead of Conv2d/BatchNorm2d on (B, C, H, W).
  TORCH_ARG(bool, is_1d) = false;
};

/// "SingleLayerConv": a 1x1 convolution without bias, C_s -> C_t (child "conv").
class SingleLayerConvImpl : public torch::nn::Module {
 public:
  /// Builds the convolution; throws kd::Error for non-positive channel counts.
  explicit SingleLayerConvImpl(const ProjectorOptions& options);
  /// Projects (B, C_s, ...) to (B, C_t, ...).
  torch::Tensor forward(const torch::Tensor& x);

  ProjectorOptions options;  ///< as constructed

 private:
  torch::nn::Conv2d conv2d_{nullptr};
  torch::nn::Conv1d conv1d_{nullptr};
};
TORCH_MODULE(SingleLayerConv);

/// "ThreeLayerConv" (SimKD-style): 1x1 to 2*C_t, BN, ReLU, 3x3 (padding 1), BN, ReLU, 1x1 to
/// C_t; convolutions without bias; children conv1, bn1, conv2, bn2, conv3.
class ThreeLayerConvImpl : public torch::nn::Module {
 public:
  /// Builds the layers; throws kd::Error for non-positive channel counts.
  explicit ThreeLayerConvImpl(const ProjectorOptions& options);
  /// Projects (B, C_s, ...) to (B, C_t, ...), keeping the spatial size.
  torch::Tensor forward(const torch::Tensor& x);

  ProjectorOptions options;  ///< as constructed

 private:
  torch::nn::AnyModule conv1_, bn1_, conv2_, bn2_, conv3_;
};
TORCH_MODULE(ThreeLayerConv);

/// Makes a projector by name ("SingleLayerConv" or "ThreeLayerConv"); call it with
/// `projector.forward(x)` and reach its parameters through `projector.ptr()`. Throws kd::Error
/// for an unknown kind.
torch::nn::AnyModule make_projector(const std::string& kind, int64_t student_channels,
                                    int64_t teacher_channels, bool is_1d);

}  // namespace kd
