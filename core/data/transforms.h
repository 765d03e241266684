#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace kd {

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
struct ChannelStats {
  std::vector<float> mean;
  std::vector<float> std;
};

/// Per-channel mean and population standard deviation of a split's pixels scaled to [0, 1].
/// Exact: it counts each byte value per channel, then reduces the counts in float64, so no
/// float copy of the images is made. Throws kd::Error for an empty split.
ChannelStats compute_channel_stats(const DatasetSplit& split);

/// (x / 255 - mean) / std per channel, as float32. `uint8_batch` is B x C x H x W or C x H x W
/// with C = stats.mean.size(). A zero std (a constant channel) is treated as 1.
torch::Tensor to_normalized_float(const torch::Tensor& uint8_batch, const ChannelStats& stats);

/// Standard CIFAR-style augmentation on a uint8 B x C x H x W batch: each sample is shifted by a
/// random (dy, dx) in [-padding, padding]^2 with zeros filled in (a random crop of the image
/// zero-padded by `padding`), then mirrored left-right with probability 1/2. The same seed
/// gives the same result on every platform.
torch::Tensor augment_crop_flip(const torch::Tensor& uint8_batch, uint64_t seed, int padding = 4);

}  // namespace kd
