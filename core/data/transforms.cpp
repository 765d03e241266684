#include "data/transforms.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <mutex>

#include "common/error.h"
#include "data/seeded_random.h"

namespace kd {
namespace {

/// How many times each byte value occurs, per channel.
using ValueCounts = std::vector<std::array<int64_t, 256>>;

/// Samples per parallel task when counting values.
constexpr int64_t kStatsGrain = 256;

ValueCounts count_values(const torch::Tensor& images) {
  const int64_t channels = images.size(1);
  const int64_t plane = images.size(2) * images.size(3);
  const uint8_t* data = images.data_ptr<uint8_t>();
  ValueCounts total(channels, std::array<int64_t, 256>{});
  std::mutex merge;
  at::parallel_for(0, images.size(0), kStatsGrain, [&](int64_t begin, int64_t end) {
    ValueCounts local(channels, std::array<int64_t, 256>{});
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        const uint8_t* p = data + (n * channels + c) * plane;
        auto& counts = local[c];
        for (int64_t i = 0; i < plane; ++i) ++counts[p[i]];
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t c = 0; c < channels; ++c) {
      for (int v = 0; v < 256; ++v) total[c][v] += local[c][v];
    }
  });
  return total;
}

/// Copies one channel plane shifted by (dy, dx), optionally mirrored; `out` starts zeroed.
void shift_plane(const uint8_t* in, uint8_t* out, int64_t height, int64_t width, int64_t dy,
                 int64_t dx, bool flip) {
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = y + dy;
    if (sy < 0 || sy >= height) continue;
    const uint8_t* src = in + sy * width;
    uint8_t* dst = out + y * width;
    if (!flip) {
      const int64_t x0 = std::max<int64_t>(0, -dx);
      const int64_t x1 = std::min<int64_t>(width, width - dx);
      if (x1 > x0) std::memcpy(dst + x0, src + x0 + dx, static_cast<size_t>(x1 - x0));
      continue;
    }
    for (int64_t x = 0; x < width; ++x) {
      const int64_t sx = width - 1 - x + dx;
      if (sx >= 0 && sx < width) dst[x] = src[sx];
    }
  }
}

}  // namespace

ChannelStats compute_channel_stats(const DatasetSplit& split) {
  if (!split.images.defined() || split.images.numel() == 0) {
    throw Error("cannot compute channel statistics of an empty dataset split");
  }
  TORCH_CHECK(split.images.dim() == 4 && split.images.scalar_type() == torch::kUInt8,
              "compute_channel_stats: images must be uint8 N x C x H x W");
  const ValueCounts counts = count_values(split.images.contiguous());
  ChannelStats stats;
  for (const auto& channel : counts) {
    double n = 0, sum = 0;
    for (int v = 0; v < 256; ++v) {
      n += static_cast<double>(channel[v]);
      sum += static_cast<double>(channel[v]) * (v / 255.0);
    }
    const double mean = sum / n;
    double squares = 0;
    for (int v = 0; v < 256; ++v) {
      const double d = v / 255.0 - mean;
      squares += static_cast<double>(channel[v]) * d * d;
    }
    stats.mean.push_back(static_cast<float>(mean));
    stats.std.push_back(static_cast<float>(std::sqrt(squares / n)));
  }
  return stats;
}

torch::Tensor to_normalized_float(const torch::Tensor& uint8_batch, const ChannelStats& stats) {
  TORCH_CHECK(uint8_batch.scalar_type() == torch::kUInt8,
              "to_normalized_float: expected uint8 images");
  TORCH_CHECK(uint8_batch.dim() == 3 || uint8_batch.dim() == 4,
              "to_normalized_float: expected C x H x W or B x C x H x W images");
  const int64_t channels = uint8_batch.size(uint8_batch.dim() - 3);
  TORCH_CHECK(
      static_cast<int64_t>(stats.mean.size()) == channels && stats.std.size() == stats.mean.size(),
      "to_normalized_float: the statistics have ", stats.mean.size(),
      " channels but the images have ", channels);
  std::vector<float> scale(channels), shift(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const float sd = stats.std[c] > 0 ? stats.std[c] : 1.0f;
    scale[c] = 1.0f / (255.0f * sd);
    shift[c] = -stats.mean[c] / sd;
  }
  // x * scale + shift == (x / 255 - mean) / std, in one pass. On the CPU a plain loop: the
  // loader's worker threads call this, and an ATen kernel there would start an OpenMP team of
  // its own that competes with the training step's threads (docs/performance.md).
  if (uint8_batch.device().is_cpu()) {
    const torch::Tensor in = uint8_batch.contiguous();
    torch::Tensor out = torch::empty(in.sizes(), torch::kFloat32);
    const int64_t plane = in.size(in.dim() - 2) * in.size(in.dim() - 1);
    const int64_t planes = in.numel() / std::max<int64_t>(plane, 1);
    const uint8_t* src = in.data_ptr<uint8_t>();
    float* dst = out.data_ptr<float>();
    for (int64_t p = 0; p < planes; ++p) {
      const float a = scale[static_cast<size_t>(p % channels)];
      const float b = shift[static_cast<size_t>(p % channels)];
      const uint8_t* s = src + p * plane;
      float* d = dst + p * plane;
      for (int64_t i = 0; i < plane; ++i) d[i] = b + static_cast<float>(s[i]) * a;
    }
    return out;
  }
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(uint8_batch.device());
  const torch::Tensor scale_t = torch::tensor(scale, options).view({channels, 1, 1});
  const torch::Tensor shift_t = torch::tensor(shift, options).view({channels, 1, 1});
  return torch::addcmul(shift_t, uint8_batch.to(torch::kFloat32), scale_t);
}

torch::Tensor augment_crop_flip(const torch::Tensor& uint8_batch, uint64_t seed, int padding) {
  TORCH_CHECK(uint8_batch.scalar_type() == torch::kUInt8 && uint8_batch.dim() == 4,
              "augment_crop_flip: expected a uint8 B x C x H x W batch");
  TORCH_CHECK(padding >= 0, "augment_crop_flip: padding must not be negative");
  const torch::Tensor in = uint8_batch.contiguous();
  torch::Tensor out = torch::empty_like(in);
  std::memset(out.data_ptr<uint8_t>(), 0, static_cast<size_t>(out.numel()));  // no ATen kernel
  const int64_t batch = in.size(0), channels = in.size(1);
  const int64_t height = in.size(2), width = in.size(3);
  const int64_t plane = height * width;
  SeededRandom random(mix_seed(seed));
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t n = 0; n < batch; ++n) {
    const int64_t dy = static_cast<int64_t>(random.below(2 * padding + 1)) - padding;
    const int64_t dx = static_cast<int64_t>(random.below(2 * padding + 1)) - padding;
    const bool flip = random.coin();
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t offset = (n * channels + c) * plane;
      shift_plane(src + offset, dst + offset, height, width, dy, dx, flip);
    }
  }
  return out;
}

}  // namespace kd
