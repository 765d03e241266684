#include "models/zoo/layer_blocks.h"

#include <cmath>

#include "common/error.h"
#include "deploy/onnx_graph.h"

namespace kd::zoo {

namespace F = torch::nn::functional;

torch::Tensor activate(const torch::Tensor& x, Activation act) {
  switch (act) {
    case Activation::kReLU:
      return torch::relu(x);
    case Activation::kReLU6:
      return torch::clamp(x, 0.0, 6.0);
    case Activation::kGELU:
      return torch::gelu(x);
    case Activation::kNone:
      break;
  }
  return x;
}

namespace {

/// LayerNorm epsilon of torchvision's ViT (and so of the paper's ViT-B teacher).
constexpr double kLayerNormEps = 1e-6;

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::kReLU:
      return "+ReLU";
    case Activation::kReLU6:
      return "+ReLU6";
    case Activation::kGELU:
      return "+GELU";
    case Activation::kNone:
      break;
  }
  return "";
}

torch::Tensor max_pool2_ceil(const torch::Tensor& x) {
  // ceil_mode keeps odd sizes (28 -> 14 -> 7 -> 4 -> 2 -> 1) valid; at 32 it changes nothing.
  return F::max_pool2d(x, F::MaxPool2dFuncOptions(2).stride(2).ceil_mode(true));
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                            int64_t groups = 1, bool bias = false) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(bias));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> folded_conv_weights(const torch::nn::Conv2dImpl& conv,
                                                            const torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  const auto opts = conv.weight.options();
  const torch::Tensor scale =
      bn.weight.to(torch::kDouble) / (bn.running_var.to(torch::kDouble) + bn.options.eps()).sqrt();
  const torch::Tensor shift = conv.bias.defined() ? conv.bias.to(torch::kDouble) : torch::zeros_like(scale);
  const torch::Tensor bias =
      (shift - bn.running_mean.to(torch::kDouble)) * scale + bn.bias.to(torch::kDouble);
  return {(conv.weight.to(torch::kDouble) * scale.reshape({-1, 1, 1, 1})).to(opts), bias.to(opts)};
}

void fold_batch_norm_into(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  auto [weight, bias] = folded_conv_weights(conv, bn);
  conv.weight.set_data(weight);
  // The convolution's forward reads the `bias` member; a conv built without one gets it here.
  conv.bias = bias;
}

ConvBnActImpl::ConvBnActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             Activation act, int64_t groups, bool pool_first, bool bias)
    : act_(act), pool_first_(pool_first) {
  conv_ = register_module("conv", make_conv(in, out, kernel, stride, groups, bias));
  bn_ = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor ConvBnActImpl::forward(torch::Tensor x) {
  if (pool_first_) x = max_pool2_ceil(x);
  torch::Tensor y = conv_(x);
  return activate(folded_ ? y : bn_(y), act_);
}

bool ConvBnActImpl::fold_batch_norm() {
  if (!folded_) fold_batch_norm_into(*conv_, *bn_);
  return folded_ = true;
}

std::string ConvBnActImpl::kind() const {
  return std::string(pool_first_ ? "MaxPool2d+" : "") + "Conv2d+BatchNorm2d" +
         activation_name(act_);
}

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
  conv1_ = register_module("conv1", make_conv(in, out, 3, stride));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2_ = register_module("conv2", make_conv(out, out, 3, 1));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (stride != 1 || in != out) {
    downsample_ = register_module(
        "downsample", torch::nn::Sequential(make_conv(in, out, 1, stride), torch::nn::BatchNorm2d(out)));
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  if (folded_) {
    const torch::Tensor identity =
        downsample_ ? downsample_->ptr(0)->as<torch::nn::Conv2dImpl>()->forward(x) : x;
    return torch::relu(conv2_(torch::relu(conv1_(x))) + identity);
  }
  torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
  torch::Tensor y = torch::relu(bn1_(conv1_(x)));
  y = bn2_(conv2_(y));
  return torch::relu(y + identity);
}

bool BasicBlockImpl::fold_batch_norm() {
  if (folded_) return true;
  fold_batch_norm_into(*conv1_, *bn1_);
  fold_batch_norm_into(*conv2_, *bn2_);
  if (downsample_) {
    fold_batch_norm_into(*downsample_->ptr(0)->as<torch::nn::Conv2dImpl>(),
                         *downsample_->ptr(1)->as<torch::nn::BatchNorm2dImpl>());
  }
  return folded_ = true;
}

InvertedResidualImpl::InvertedResidualImpl(int64_t in, int64_t out, int64_t stride,
                                           int64_t expand_ratio)
    : use_residual_(stride == 1 && in == out) {
  const int64_t hidden = in * expand_ratio;
  torch::nn::Sequential seq;
  if (expand_ratio != 1) {
    seq->push_back(std::make_shared<ConvBnActImpl>(in, hidden, 1, 1, Activation::kReLU6));
  }
  seq->push_back(std::make_shared<ConvBnActImpl>(hidden, hidden, 3, stride, Activation::kReLU6, hidden));
  seq->push_back(make_conv(hidden, out, 1, 1));
  seq->push_back(torch::nn::BatchNorm2d(out));
  conv_ = register_module("conv", seq);
}

torch::Tensor InvertedResidualImpl::forward(torch::Tensor x) {
  torch::Tensor y;
  if (folded_) {  // the trailing BatchNorm2d lives in the conv before it
    y = x;
    for (auto it = conv_->begin(); it + 1 != conv_->end(); ++it) y = it->forward(y);
  } else {
    y = conv_->forward(x);
  }
  return use_residual_ ? x + y : y;
}

bool InvertedResidualImpl::fold_batch_norm() {
  if (folded_) return true;
  const size_t n = conv_->size();
  for (size_t i = 0; i + 2 < n; ++i) conv_->ptr(i)->as<ConvBnActImpl>()->fold_batch_norm();
  fold_batch_norm_into(*conv_->ptr(n - 2)->as<torch::nn::Conv2dImpl>(),
                       *conv_->ptr(n - 1)->as<torch::nn::BatchNorm2dImpl>());
  return folded_ = true;
}

torch::Tensor PoolFlattenImpl::forward(torch::Tensor x) {
  if (pool_ == Pool::kGlobalAverage) {
    x = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
  } else {
    x = max_pool2_ceil(x);
  }
  return torch::flatten(x, 1);
}

std::string PoolFlattenImpl::kind() const {
  return pool_ == Pool::kGlobalAverage ? "AdaptiveAvgPool2d+Flatten" : "MaxPool2d+Flatten";
}

LinearActImpl::LinearActImpl(int64_t in, int64_t out, double dropout_before)
    : dropout_(dropout_before) {
  fc_ = register_module("fc", torch::nn::Linear(in, out));
}

torch::Tensor LinearActImpl::forward(torch::Tensor x) {
  if (dropout_ > 0) x = F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  return torch::relu(fc_(x));
}

std::string LinearActImpl::kind() const {
  return std::string(dropout_ > 0 ? "Dropout+" : "") + "Linear+ReLU";
}

PatchEmbedImpl::PatchEmbedImpl(int64_t channels, int64_t image_size, int64_t patch, int64_t dim) {
  proj_ = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, dim, patch).stride(patch)));
  const int64_t patches = (image_size / patch) * (image_size / patch);
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, dim}));
  // Small random position embedding, as in ViT implementations (truncated normal, std 0.02).
  pos_embed_ = register_parameter("pos_embed", torch::randn({1, patches + 1, dim}) * 0.02);
}

torch::Tensor PatchEmbedImpl::forward(torch::Tensor x) {
  torch::Tensor p = proj_(x).flatten(2).transpose(1, 2);  // (B, patches, dim)
  torch::Tensor cls = cls_token_.expand({p.size(0), -1, -1});
  return torch::cat({cls, p}, 1) + pos_embed_;
}

EncoderBlockImpl::EncoderBlockImpl(int64_t dim, int64_t heads, int64_t mlp_dim) : heads_(heads) {
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
  qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  proj_ = register_module("proj", torch::nn::Linear(dim, dim));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
  fc1_ = register_module("fc1", torch::nn::Linear(dim, mlp_dim));
  fc2_ = register_module("fc2", torch::nn::Linear(mlp_dim, dim));
}

torch::Tensor EncoderBlockImpl::attention(const torch::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), hd = d / heads_;
  torch::Tensor qkv = qkv_(x).reshape({b, t, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // (B, heads, T, hd)
  torch::Tensor attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd)), -1);
  torch::Tensor out = torch::matmul(attn, v).transpose(1, 2).reshape({b, t, d});
  return proj_(out);
}

torch::Tensor EncoderBlockImpl::forward(torch::Tensor x) {
  x = x + attention(norm1_(x));
  return x + fc2_(torch::gelu(fc1_(norm2_(x))));
}

ClassifierImpl::ClassifierImpl(int64_t in, int64_t classes, double dropout,
                               bool token_mean_with_norm)
    : dropout_(dropout) {
  if (token_mean_with_norm) {
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({in}).eps(kLayerNormEps)));
  }
  fc_ = register_module("fc", torch::nn::Linear(in, classes));
}

torch::Tensor ClassifierImpl::forward(torch::Tensor x) {
  if (norm_) x = norm_(x).mean(1);  // all tokens, class token included (method.md section 1)
  if (dropout_ > 0) x = F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  return fc_(x);
}

std::string ClassifierImpl::kind() const {
  std::string k = norm_ ? "LayerNorm+TokenMean+" : "";
  if (dropout_ > 0) k += "Dropout+";
  return k + "Linear";
}

// ---- ONNX (deploy/onnx_export.h): each block's eval-mode computation, BatchNorm folded ----

namespace {

/// conv (+ bn unless already folded into it) as one ONNX Conv; padding kernel / 2 (make_conv).
std::string onnx_conv_bn(OnnxGraph& g, const std::string& x, const torch::nn::Conv2dImpl& conv,
                         const torch::nn::BatchNorm2dImpl* bn) {
  torch::Tensor w = conv.weight, b = conv.bias;
  if (bn) std::tie(w, b) = folded_conv_weights(conv, *bn);
  const auto& o = conv.options;
  return g.conv(x, w, b, o.stride()->at(0), o.kernel_size()->at(0) / 2, o.groups());
}

std::string onnx_activate(OnnxGraph& g, const std::string& x, Activation act) {
  switch (act) {
    case Activation::kReLU:
      return g.relu(x);
    case Activation::kReLU6:
      return g.relu6(x);
    case Activation::kGELU:
      return g.gelu(x);
    case Activation::kNone:
      break;
  }
  return x;
}

}  // namespace

std::string LayerBlockImpl::to_onnx(OnnxGraph&, const std::string&) const {
  throw Error("no ONNX mapping for the layer kind " + kind());
}

std::string ConvBnActImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  const std::string x = pool_first_ ? g.max_pool2_ceil(input) : input;
  return onnx_activate(g, onnx_conv_bn(g, x, *conv_, folded_ ? nullptr : bn_.get()), act_);
}

std::string BasicBlockImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  std::string identity = input;
  if (downsample_) {
    identity = onnx_conv_bn(g, input, *downsample_->ptr(0)->as<torch::nn::Conv2dImpl>(),
                            folded_ ? nullptr : downsample_->ptr(1)->as<torch::nn::BatchNorm2dImpl>());
  }
  std::string y = g.relu(onnx_conv_bn(g, input, *conv1_, folded_ ? nullptr : bn1_.get()));
  y = onnx_conv_bn(g, y, *conv2_, folded_ ? nullptr : bn2_.get());
  return g.relu(g.add(y, identity));
}

std::string InvertedResidualImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  const size_t n = conv_->size();
  std::string y = input;
  for (size_t i = 0; i + 2 < n; ++i) y = conv_->ptr(i)->as<ConvBnActImpl>()->to_onnx(g, y);
  y = onnx_conv_bn(g, y, *conv_->ptr(n - 2)->as<torch::nn::Conv2dImpl>(),
                   folded_ ? nullptr : conv_->ptr(n - 1)->as<torch::nn::BatchNorm2dImpl>());
  return use_residual_ ? g.add(input, y) : y;
}

std::string PoolFlattenImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  const std::string pooled =
      pool_ == Pool::kGlobalAverage ? g.node("GlobalAveragePool", {input}) : g.max_pool2_ceil(input);
  return g.node("Flatten", {pooled}, {{"axis", int64_t{1}}});
}

std::string LinearActImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  return g.relu(g.linear2d(input, fc_->weight, fc_->bias));
}

std::string PatchEmbedImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  const int64_t dim = proj_->weight.size(0);
  std::string p = g.conv(input, proj_->weight, proj_->bias, proj_->options.stride()->at(0), 0, 1);
  p = g.transpose(g.reshape(p, {0, dim, -1}), {0, 2, 1});  // (B, patches, dim)
  // The class token for every image of the batch without shape operators: the first patch
  // token times zero plus the token (exact for finite inputs), so the batch stays symbolic.
  const std::string first = g.node("Slice", {p, g.ints("start", {0}), g.ints("end", {1}), g.ints("axis", {1})});
  const std::string zero = g.node("Mul", {first, g.constant("zero", torch::tensor(0.0f))});
  const std::string cls = g.add(zero, g.constant("cls_token", cls_token_));
  const std::string tokens = g.node("Concat", {cls, p}, {{"axis", int64_t{1}}});
  return g.add(tokens, g.constant("pos_embed", pos_embed_));
}

std::string EncoderBlockImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  const int64_t d = qkv_->weight.size(1), hd = d / heads_;
  const torch::Tensor w = qkv_->weight, b = qkv_->bias;
  const std::string x = g.layer_norm(input, norm1_->weight, norm1_->bias, kLayerNormEps);
  auto head_split = [&](int part, const std::vector<int64_t>& perm) {  // (B, T, d) -> per-head layout
    const std::string y = g.linear(x, w.slice(0, part * d, (part + 1) * d), b.slice(0, part * d, (part + 1) * d));
    return g.transpose(g.reshape(y, {0, 0, heads_, hd}), perm);
  };
  const std::string q = head_split(0, {0, 2, 1, 3});   // (B, heads, T, hd)
  const std::string kt = head_split(1, {0, 2, 3, 1});  // (B, heads, hd, T)
  const std::string v = head_split(2, {0, 2, 1, 3});
  const std::string scores = g.node(
      "Mul", {g.node("MatMul", {q, kt}), g.constant("scale", torch::tensor(float(1.0 / std::sqrt(double(hd)))))});
  const std::string attn = g.node("Softmax", {scores}, {{"axis", int64_t{-1}}});
  std::string out = g.transpose(g.node("MatMul", {attn, v}), {0, 2, 1, 3});  // (B, T, heads, hd)
  out = g.linear(g.reshape(out, {0, 0, d}), proj_->weight, proj_->bias);
  const std::string x1 = g.add(input, out);
  const std::string h = g.layer_norm(x1, norm2_->weight, norm2_->bias, kLayerNormEps);
  const std::string mlp = g.linear(g.gelu(g.linear(h, fc1_->weight, fc1_->bias)), fc2_->weight, fc2_->bias);
  return g.add(x1, mlp);
}

std::string ClassifierImpl::to_onnx(OnnxGraph& g, const std::string& input) const {
  std::string x = input;
  if (norm_) {
    x = g.layer_norm(x, norm_->weight, norm_->bias, kLayerNormEps);
    x = g.node("ReduceMean", {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}});
  }
  return g.linear2d(x, fc_->weight, fc_->bias);
}

}  // namespace kd::zoo
