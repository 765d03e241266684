#include "models/zoo/zoo_builder.h"

#include <array>
#include <cmath>

#include "common/error.h"

namespace kd::zoo {

namespace {

/// Channel count scaled by the width multiplier (at least 1).
int64_t scaled(int64_t channels, double width) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(channels) * width));
}

struct Built {
  ZooNetwork net;
  int head_start = 0;
};

Built build_resnet(const ZooSpec& s, const std::array<int, 4>& blocks_per_stage) {
  Built b;
  const int64_t stem_stride = s.stem_downsamples() ? 2 : 1;
  int64_t in = scaled(64, s.width);
  b.net->add_layer(std::make_shared<ConvBnActImpl>(s.channels, in, 3, stem_stride, Activation::kReLU));
  const std::array<int64_t, 4> widths = {64, 128, 256, 512};
  for (size_t stage = 0; stage < 4; ++stage) {
    const int64_t out = scaled(widths[stage], s.width);
    for (int i = 0; i < blocks_per_stage[stage]; ++i) {
      const int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      b.net->add_layer(std::make_shared<BasicBlockImpl>(in, out, stride));
      in = out;
    }
  }
  b.net->add_layer(std::make_shared<PoolFlattenImpl>(PoolFlattenImpl::Pool::kGlobalAverage));
  b.net->set_classifier(std::make_shared<ClassifierImpl>(in, s.classes, 0.0, false));
  b.head_start = static_cast<int>(b.net->blocks.size());
  return b;
}

Built build_mobilenetv2(const ZooSpec& s) {
  Built b;
  const int64_t stem_stride = s.stem_downsamples() ? 2 : 1;
  int64_t in = scaled(32, s.width);
  b.net->add_layer(
      std::make_shared<ConvBnActImpl>(s.channels, in, 3, stem_stride, Activation::kReLU6));
  // expansion t, channels c, repeats n, first stride s (CIFAR variant: stem stride 1).
  const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& st : settings) {
    const int64_t out = scaled(st[1], s.width);
    for (int64_t i = 0; i < st[2]; ++i) {
      b.net->add_layer(std::make_shared<InvertedResidualImpl>(in, out, i == 0 ? st[3] : 1, st[0]));
      in = out;
    }
  }
  const int64_t last = scaled(1280, s.width);
  b.net->add_layer(std::make_shared<ConvBnActImpl>(in, last, 1, 1, Activation::kReLU6));
  b.net->add_layer(std::make_shared<PoolFlattenImpl>(PoolFlattenImpl::Pool::kGlobalAverage));
  b.net->set_classifier(std::make_shared<ClassifierImpl>(last, s.classes, 0.2, false));
  b.head_start = static_cast<int>(b.net->blocks.size());
  return b;
}

/// Spatial size after `pools` ceil-mode 2x2 max-pools.
int64_t pooled_size(int64_t size, int pools) {
  for (int i = 0; i < pools; ++i) size = (size + 1) / 2;
  return size;
}

Built build_vgg(const ZooSpec& s, const std::vector<int>& cfg) {
  constexpr int kPool = 0;  // marks a max-pool in cfg
  Built b;
  int64_t in = s.channels;
  int64_t spatial = s.stem_downsamples() ? (s.size + 1) / 2 : s.size;
  bool pending_pool = false;
  bool first = true;
  for (int c : cfg) {
    if (c == kPool) {
      pending_pool = true;
      continue;
    }
    const int64_t out = scaled(c, s.width);
    const int64_t stride = (first && s.stem_downsamples()) ? 2 : 1;
    b.net->add_layer(
        std::make_shared<ConvBnActImpl>(in, out, 3, stride, Activation::kReLU, 1, pending_pool,
                                        /*bias=*/true));
    if (pending_pool) spatial = pooled_size(spatial, 1);
    pending_pool = first = false;
    in = out;
  }
  b.net->add_layer(std::make_shared<PoolFlattenImpl>(PoolFlattenImpl::Pool::kMax2));
  spatial = pooled_size(spatial, 1);
  const int64_t flat = in * spatial * spatial;
  const int64_t hidden = scaled(512, s.width);
  b.head_start = static_cast<int>(b.net->blocks.size());
  b.net->add_layer(std::make_shared<LinearActImpl>(flat, hidden, 0.0));
  b.net->add_layer(std::make_shared<LinearActImpl>(hidden, hidden, 0.5));
  b.net->set_classifier(std::make_shared<ClassifierImpl>(hidden, s.classes, 0.5, false));
  return b;
}

Built build_vit(const ZooSpec& s, int64_t dim, int64_t heads, int64_t mlp, int blocks) {
  const int64_t patch = s.stem_downsamples() ? 8 : 4;
  if (s.size % patch != 0) {
    throw Error(s.arch + ": input size " + std::to_string(s.size) +
                " is not a multiple of the patch size " + std::to_string(patch));
  }
  const int64_t head_dim = scaled(dim / heads, s.width);
  const int64_t d = head_dim * heads;
  const int64_t m = scaled(mlp, s.width);
  Built b;
  b.net->add_layer(std::make_shared<PatchEmbedImpl>(s.channels, s.size, patch, d));
  for (int i = 0; i < blocks; ++i) b.net->add_layer(std::make_shared<EncoderBlockImpl>(d, heads, m));
  b.net->set_classifier(std::make_shared<ClassifierImpl>(d, s.classes, 0.0, true));
  b.head_start = static_cast<int>(b.net->blocks.size());
  return b;
}

Built build(const ZooSpec& s) {
  if (s.arch == "resnet9") return build_resnet(s, {1, 1, 1, 1});
  if (s.arch == "resnet18") return build_resnet(s, {2, 2, 2, 2});
  if (s.arch == "resnet34") return build_resnet(s, {3, 4, 6, 3});
  if (s.arch == "mobilenetv2") return build_mobilenetv2(s);
  if (s.arch == "vgg11_bn") return build_vgg(s, {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0});
  if (s.arch == "vgg19_bn") {
    return build_vgg(s, {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0,
                         512, 512, 512, 512, 0});
  }
  if (s.arch == "vit_b") return build_vit(s, 768, 12, 3072, 12);
  if (s.arch == "vit_ett") return build_vit(s, 192, 6, 576, 8);
  throw Error("unknown zoo architecture '" + s.arch + "'");
}

}  // namespace

int64_t min_parameter_count(const ZooSpec& s) {
  const double w = s.width;
  if (s.arch == "resnet9" || s.arch == "resnet18" || s.arch == "resnet34") {
    const int64_t c = scaled(512, w);
    return c * c * 9 + s.classes * c;  // the last block's conv2 and the classifier
  }
  if (s.arch == "mobilenetv2") {
    const int64_t last = scaled(1280, w);
    return scaled(320, w) * last + s.classes * last;  // the final 1x1 conv and the classifier
  }
  if (s.arch == "vgg11_bn" || s.arch == "vgg19_bn") {
    const int64_t c = scaled(512, w);
    const int64_t spatial = pooled_size(s.stem_downsamples() ? (s.size + 1) / 2 : s.size, 5);
    return c * c * 9 + c * spatial * spatial * c + s.classes * c;  // last conv, first linear, head
  }
  if (s.arch == "vit_b" || s.arch == "vit_ett") {
    const bool b = s.arch == "vit_b";
    const int64_t heads = b ? 12 : 6;
    const int64_t d = scaled((b ? 768 : 192) / heads, w) * heads;
    const int64_t m = scaled(b ? 3072 : 576, w);
    const int64_t patch = s.stem_downsamples() ? 8 : 4;
    const int64_t patches = (s.size / patch) * (s.size / patch);
    return (b ? 12 : 8) * (4 * d * d + 2 * d * m) + (patches + 1) * d + s.classes * d;
  }
  return 0;
}

std::unique_ptr<ZooModel> create_zoo_model(const ZooSpec& spec, uint64_t init_seed) {
  torch::manual_seed(init_seed);
  Built b = build(spec);
  return std::make_unique<ZooModel>(spec, std::move(b.net), b.head_start);
}

}  // namespace kd::zoo
