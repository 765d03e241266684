#pragma once
// Writes a small class-balanced copy of a dataset split as IDX files, so that tests can train
// on real Fashion-MNIST images in seconds (dataset spec "fashion-mnist:<dir>").
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/balanced_subset.h"
#include "data/dataset.h"
#include "test_util.h"

namespace kdtest {

/// Writes `per_class` images of each of the 10 classes of `split` (28x28, one channel) as
/// <dir>/<prefix>-images-idx3-ubyte and <dir>/<prefix>-labels-idx1-ubyte.
inline void write_idx_subset(const kd::DatasetSplit& split, int64_t per_class, const std::string& dir,
                             const std::string& prefix) {
  const std::vector<int64_t> rows = kd::balanced_subset(split.labels, 10, per_class, 0);
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  const torch::Tensor images = split.images.index_select(0, index).contiguous();
  const torch::Tensor labels = split.labels.index_select(0, index).to(torch::kUInt8).contiguous();
  const auto count = static_cast<uint32_t>(rows.size());
  auto header = [count](std::vector<uint8_t> magic, bool image) {
    for (int shift = 24; shift >= 0; shift -= 8) magic.push_back(static_cast<uint8_t>(count >> shift));
    for (int d = 0; image && d < 2; ++d) magic.insert(magic.end(), {0, 0, 0, 28});
    return magic;
  };
  std::vector<uint8_t> img = header({0, 0, 0x08, 3}, true), lab = header({0, 0, 0x08, 1}, false);
  const uint8_t* pixels = images.data_ptr<uint8_t>();
  img.insert(img.end(), pixels, pixels + images.numel());
  const uint8_t* classes = labels.data_ptr<uint8_t>();
  lab.insert(lab.end(), classes, classes + labels.numel());
  write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", img);
  write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", lab);
}

}  // namespace kdtest
