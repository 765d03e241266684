#include "distill/projector.h"

#include <torch/torch.h>

#include "common/error.h"

namespace kd {
namespace {

void check_channels(const ProjectorOptions& o, const char* kind) {
  if (o.student_channels() <= 0 || o.teacher_channels() <= 0) {
    throw Error(std::string(kind) + " projector needs positive channel counts, got " +
                std::to_string(o.student_channels()) + " -> " +
                std::to_string(o.teacher_channels()));
  }
}

/// A bias-free convolution of the right dimensionality, registered under `name`.
torch::nn::AnyModule conv(torch::nn::Module& owner, const std::string& name, bool is_1d, int64_t in,
                          int64_t out, int64_t kernel, int64_t padding) {
  if (is_1d) {
    return torch::nn::AnyModule(owner.register_module(
        name,
        torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, kernel).padding(padding).bias(false))));
  }
  return torch::nn::AnyModule(owner.register_module(
      name,
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(padding).bias(false))));
}

torch::nn::AnyModule batch_norm(torch::nn::Module& owner, const std::string& name, bool is_1d,
                                int64_t channels) {
  if (is_1d) {
    return torch::nn::AnyModule(owner.register_module(name, torch::nn::BatchNorm1d(channels)));
  }
  return torch::nn::AnyModule(owner.register_module(name, torch::nn::BatchNorm2d(channels)));
}

}  // namespace

SingleLayerConvImpl::SingleLayerConvImpl(const ProjectorOptions& options_) : options(options_) {
  check_channels(options, "SingleLayerConv");
  const int64_t in = options.student_channels(), out = options.teacher_channels();
  if (options.is_1d()) {
    conv1d_ = register_module("conv",
                              torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, 1).bias(false)));
  } else {
    conv2d_ = register_module("conv",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).bias(false)));
  }
}

torch::Tensor SingleLayerConvImpl::forward(const torch::Tensor& x) {
  return options.is_1d() ? conv1d_->forward(x) : conv2d_->forward(x);
}

ThreeLayerConvImpl::ThreeLayerConvImpl(const ProjectorOptions& options_) : options(options_) {
  check_channels(options, "ThreeLayerConv");
  const bool d1 = options.is_1d();
  const int64_t in = options.student_channels(), out = options.teacher_channels(), mid = 2 * out;
  conv1_ = conv(*this, "conv1", d1, in, mid, 1, 0);
  bn1_ = batch_norm(*this, "bn1", d1, mid);
  conv2_ = conv(*this, "conv2", d1, mid, mid, 3, 1);
  bn2_ = batch_norm(*this, "bn2", d1, mid);
  conv3_ = conv(*this, "conv3", d1, mid, out, 1, 0);
}

torch::Tensor ThreeLayerConvImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = torch::relu(bn1_.forward(conv1_.forward(x)));
  h = torch::relu(bn2_.forward(conv2_.forward(h)));
  return conv3_.forward(h);
}

torch::nn::AnyModule make_projector(const std::string& kind, int64_t student_channels,
                                    int64_t teacher_channels, bool is_1d) {
  const ProjectorOptions options =
      ProjectorOptions(student_channels, teacher_channels).is_1d(is_1d);
  if (kind == "SingleLayerConv") return torch::nn::AnyModule(SingleLayerConv(options));
  if (kind == "ThreeLayerConv") return torch::nn::AnyModule(ThreeLayerConv(options));
  throw Error("unknown projector kind '" + kind + "' (expected SingleLayerConv or ThreeLayerConv)");
}

}  // namespace kd
