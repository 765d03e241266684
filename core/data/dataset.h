#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace kd {

/// One split of an image classification dataset, held in memory as raw bytes.
/// images: uint8, shape (N, C, H, W), values 0..255; labels: int64, shape (N), in [0, classes).
struct DatasetSplit {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// A dataset: train and test splits plus class names. Produced by the readers in core/data.
struct Dataset {
  std::string name;                      ///< e.g. "Fashion-MNIST", "CIFAR-10"
  std::string source;                    ///< where it was read from (folder or file)
  std::vector<std::string> class_names;  ///< one per class, index = label
  DatasetSplit train;
  DatasetSplit test;

  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  int64_t channels() const { return train.images.size(1); }
  int64_t height() const { return train.images.size(2); }
  int64_t width() const { return train.images.size(3); }
};

}  // namespace kd
