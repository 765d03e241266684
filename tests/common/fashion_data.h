#pragma once
// Fashion-MNIST (the Debian package dataset-fashion-mnist) for the training tests: loaded once per
// test executable, and class-balanced subsets of it as the trainer takes them.
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "distill/trainer.h"
#include "models/zoo/zoo_builder.h"

namespace kdtest {

/// The tiny Fashion-MNIST ResNet9 (width 1/8) the training tests train, built with `seed`.
inline std::unique_ptr<kd::zoo::ZooModel> tiny_resnet9(uint64_t seed) {
  return kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet9:channels=1,size=28,width=0.125"), seed);
}

/// Fashion-MNIST, loaded on first use.
inline const kd::Dataset& fashion() {
  static const kd::Dataset data = kd::load_dataset("fashion-mnist");
  return data;
}

/// Training data over Fashion-MNIST: `train_per_class` and `test_per_class` images of each class
/// (balanced subsets drawn with seed 1), statistics of the whole training split.
inline kd::TrainData fashion_train_data(int64_t train_per_class, int64_t test_per_class) {
  const kd::Dataset& d = fashion();
  kd::TrainData t;
  t.train = &d.train;
  t.test = &d.test;
  t.stats = kd::compute_channel_stats(d.train);
  t.train_indices = kd::balanced_subset(d.train.labels, 10, train_per_class, 1);
  t.test_indices = kd::balanced_subset(d.test.labels, 10, test_per_class, 1);
  return t;
}

}  // namespace kdtest
