// Tests of the training data pipeline: channel statistics, normalization, augmentation,
// balanced subsets and the threaded batch loader.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <algorithm>
#include <chrono>
#include <numeric>
#include <set>

#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/batch_loader.h"
#include "data/transforms.h"

namespace {

/// A split of `count` 1 x 2 x 2 images; image i is filled with i (so a normalized batch with
/// mean 0 and std 1 reveals which samples it holds), label i mod 3.
kd::DatasetSplit numbered_split(int64_t count) {
  kd::DatasetSplit split;
  split.images =
      torch::arange(count, torch::kUInt8).view({count, 1, 1, 1}).expand({count, 1, 2, 2});
  split.images = split.images.contiguous();
  split.labels = torch::arange(count, torch::kLong).remainder(3);
  return split;
}

/// Statistics that leave x / 255 unchanged.
kd::ChannelStats identity_stats(size_t channels = 1) {
  return {std::vector<float>(channels, 0.0f), std::vector<float>(channels, 1.0f)};
}

/// The sample indices of a batch made from numbered_split with identity_stats.
std::vector<int64_t> sample_ids(const kd::Batch& batch) {
  const torch::Tensor ids = batch.images.select(1, 0).select(1, 0).select(1, 0).mul(255).round();
  std::vector<int64_t> out;
  for (int64_t i = 0; i < ids.size(0); ++i) out.push_back(ids[i].item<int64_t>());
  return out;
}

/// All sample ids of one epoch, batch by batch.
std::vector<std::vector<int64_t>> epoch_ids(kd::BatchLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::vector<int64_t>> batches;
  while (auto batch = loader.next()) batches.push_back(sample_ids(*batch));
  return batches;
}

/// A uint8 batch with pseudo-random content from a fixed linear congruential sequence.
torch::Tensor noise_batch(int64_t b, int64_t c, int64_t h, int64_t w) {
  torch::Tensor t = torch::empty({b, c, h, w}, torch::kUInt8);
  uint32_t state = 12345;
  uint8_t* p = t.data_ptr<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    state = state * 1664525u + 1013904223u;
    p[i] = static_cast<uint8_t>(1 + (state >> 24) % 255);  // never 0: zeros mark padding
  }
  return t;
}

/// Reference crop + flip by definition: zero-pad by p, take the H x W window at (p + dy, p + dx),
/// then mirror left-right when asked.
torch::Tensor crop_flip_reference(const torch::Tensor& image, int p, int dy, int dx, bool flip) {
  const int64_t h = image.size(1), w = image.size(2);
  torch::Tensor padded = torch::constant_pad_nd(image, {p, p, p, p}, 0);
  torch::Tensor crop = padded.narrow(1, p + dy, h).narrow(2, p + dx, w);
  return flip ? crop.flip({2}) : crop;
}

/// The (dy, dx, flip) choices in [-p, p]^2 x {no, yes} that turn `in` into `out`.
std::vector<std::tuple<int, int, bool>> matching_shifts(const torch::Tensor& in,
                                                        const torch::Tensor& out, int p) {
  std::vector<std::tuple<int, int, bool>> found;
  for (int dy = -p; dy <= p; ++dy) {
    for (int dx = -p; dx <= p; ++dx) {
      for (bool flip : {false, true}) {
        if (torch::equal(crop_flip_reference(in, p, dy, dx, flip), out)) {
          found.emplace_back(dy, dx, flip);
        }
      }
    }
  }
  return found;
}

}  // namespace

class TestDataPipeline : public QObject {
  Q_OBJECT

 private slots:
  // --- channel statistics and normalization ---
  void channelStatsMatchHandComputation() {
    // Two 2-channel 1 x 2 images. Channel 0 holds 0, 255, 255, 0: scaled 0, 1, 1, 0 -> mean
    // 0.5, population std 0.5. Channel 1 holds 51, 51, 102, 102: scaled 0.2, 0.2, 0.4, 0.4 ->
    // mean 0.3, std 0.1.
    kd::DatasetSplit split;
    split.images =
        torch::tensor({0, 255, 51, 51, 255, 0, 102, 102}, torch::kUInt8).view({2, 2, 1, 2});
    split.labels = torch::zeros({2}, torch::kLong);
    const kd::ChannelStats stats = kd::compute_channel_stats(split);
    QCOMPARE(stats.mean.size(), size_t{2});
    QVERIFY(std::abs(stats.mean[0] - 0.5f) < 1e-7f);
    QVERIFY(std::abs(stats.std[0] - 0.5f) < 1e-7f);
    QVERIFY(std::abs(stats.mean[1] - 0.3f) < 1e-7f);
    QVERIFY(std::abs(stats.std[1] - 0.1f) < 1e-7f);

    kd::DatasetSplit empty;
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::compute_channel_stats(empty));
  }

  void channelStatsMatchTorchOnALargeSplit() {
    // Reference: LibTorch's own mean and biased std over a float64 copy.
    kd::DatasetSplit split;
    split.images = noise_batch(3000, 3, 8, 8);
    split.images.select(1, 2).fill_(7);  // a constant channel: std 0
    const kd::ChannelStats stats = kd::compute_channel_stats(split);
    const torch::Tensor scaled =
        split.images.to(torch::kDouble).div(255).transpose(0, 1).reshape({3, -1});
    const torch::Tensor mean = scaled.mean(1);
    const torch::Tensor std = (scaled - mean.unsqueeze(1)).pow(2).mean(1).sqrt();
    for (int c = 0; c < 3; ++c) {
      QVERIFY(std::abs(stats.mean[c] - mean[c].item<double>()) < 1e-6);
      QVERIFY(std::abs(stats.std[c] - std[c].item<double>()) < 1e-6);
    }
    QCOMPARE(stats.std[2], 0.0f);
    QVERIFY(std::abs(stats.mean[2] - 7.0f / 255) < 1e-7f);
  }

  void normalizesPerChannel() {
    // Channel 0 (mean 0.5, std 0.25) holds 0, 255, 51: (x / 255 - 0.5) / 0.25 -> -2, 2,
    // (0.2 - 0.5) / 0.25 = -1.2. Channel 1 (mean 0.5, std 0 counted as 1) holds 255, 0, 51:
    // x / 255 - 0.5 -> 0.5, -0.5, -0.3.
    const kd::ChannelStats stats{{0.5f, 0.5f}, {0.25f, 0.0f}};
    const torch::Tensor batch =
        torch::tensor({0, 255, 51, 255, 0, 51}, torch::kUInt8).view({1, 2, 1, 3});
    const torch::Tensor out = kd::to_normalized_float(batch, stats);
    QCOMPARE(out.scalar_type(), torch::kFloat32);
    QCOMPARE(out.sizes().vec(), (std::vector<int64_t>{1, 2, 1, 3}));
    const torch::Tensor expected =
        torch::tensor({-2.0f, 2.0f, -1.2f, 0.5f, -0.5f, -0.3f}).view({1, 2, 1, 3});
    QVERIFY(torch::allclose(out, expected, 1e-6, 1e-6));
    // A single C x H x W image works the same.
    QVERIFY(torch::allclose(kd::to_normalized_float(batch[0], stats), expected[0], 1e-6, 1e-6));
    QVERIFY_THROWS_EXCEPTION(c10::Error, kd::to_normalized_float(batch, identity_stats(3)));
  }

  // --- augmentation ---
  void augmentationIsAShiftAndFlip_data() {
    QTest::addColumn<int>("padding");
    QTest::newRow("p4") << 4;
    QTest::newRow("p2") << 2;
    QTest::newRow("p0") << 0;
  }

  void augmentationIsAShiftAndFlip() {
    QFETCH(int, padding);
    const torch::Tensor in = noise_batch(64, 3, 9, 10);
    const torch::Tensor out = kd::augment_crop_flip(in, 42, padding);
    QCOMPARE(out.sizes(), in.sizes());
    QCOMPARE(out.scalar_type(), torch::kUInt8);
    std::set<std::pair<int, int>> shifts;
    int flips = 0;
    for (int64_t n = 0; n < in.size(0); ++n) {
      const auto found = matching_shifts(in[n], out[n], padding);
      QCOMPARE(found.size(), size_t{1});  // exactly one crop + flip explains each sample
      const auto [dy, dx, flip] = found.front();
      shifts.insert({dy, dx});
      flips += flip;
    }
    // 64 samples: both flip outcomes appear (each misses with probability 2^-64), and with
    // padding > 0 more than one shift appears.
    QVERIFY(flips > 0 && flips < 64);
    QVERIFY(padding == 0 ? shifts.size() == 1 : shifts.size() > 1);
  }

  void augmentationDependsOnlyOnTheSeed() {
    const torch::Tensor in = noise_batch(32, 1, 8, 8);
    const torch::Tensor a = kd::augment_crop_flip(in, 7);
    QVERIFY(torch::equal(a, kd::augment_crop_flip(in, 7)));
    QVERIFY(!torch::equal(a, kd::augment_crop_flip(in, 8)));
    QVERIFY(torch::equal(in, noise_batch(32, 1, 8, 8)));  // the input is left alone
  }

  // --- balanced subsets ---
  void balancedSubsetCountsAndOrder() {
    // Class 0 at 0, 2, 5, 6; class 1 at 1, 4; class 2 at 3, 7.
    const torch::Tensor labels = torch::tensor({0, 1, 0, 2, 1, 0, 0, 2}, torch::kLong);
    const std::vector<int64_t> subset = kd::balanced_subset(labels, 3, 3, 1);
    QCOMPARE(subset.size(), size_t{7});  // 3 + all 2 + all 2
    const std::vector<int64_t> class0(subset.begin(), subset.begin() + 3);
    QVERIFY(std::is_sorted(class0.begin(), class0.end()));
    for (int64_t i : class0) QVERIFY(labels[i].item<int64_t>() == 0);
    QCOMPARE(std::vector<int64_t>(subset.begin() + 3, subset.end()),
             (std::vector<int64_t>{1, 4, 3, 7}));
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::balanced_subset(labels, 2, 3, 1));  // label 2
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::balanced_subset(labels, 3, 0, 1));
  }

  void balancedSubsetIsSeeded() {
    // 1000 samples, label i mod 10: 100 a class.
    const torch::Tensor labels = torch::arange(1000, torch::kLong).remainder(10);
    const auto a = kd::balanced_subset(labels, 10, 20, 5);
    QCOMPARE(a, kd::balanced_subset(labels, 10, 20, 5));
    QVERIFY(a != kd::balanced_subset(labels, 10, 20, 6));
    QCOMPARE(std::set<int64_t>(a.begin(), a.end()).size(), size_t{200});
    for (size_t k = 0; k < a.size(); ++k) QCOMPARE(a[k] % 10, int64_t(k / 20));
    // A larger choice extends the smaller one with the same seed.
    const auto b = kd::balanced_subset(labels, 10, 30, 5);
    const std::set<int64_t> larger(b.begin(), b.end());
    for (int64_t i : a) QVERIFY(larger.count(i) == 1);
  }

  // --- batch loader ---
  void loaderVisitsEverySampleOnce() {
    kd::BatchLoader loader(numbered_split(10), identity_stats(),
                           kd::LoaderOptions().batch_size(4).drop_last(false).seed(3));
    QCOMPARE(loader.batches_per_epoch(), int64_t{3});
    loader.start_epoch(0);
    std::vector<int64_t> seen;
    int64_t expected_index = 0;
    while (auto batch = loader.next()) {
      QCOMPARE(batch->index, expected_index++);
      const auto ids = sample_ids(*batch);
      QCOMPARE(batch->images.scalar_type(), torch::kFloat32);
      for (size_t k = 0; k < ids.size(); ++k) {
        QCOMPARE(batch->labels[k].item<int64_t>(), ids[k] % 3);  // labels follow their images
      }
      seen.insert(seen.end(), ids.begin(), ids.end());
    }
    QCOMPARE(expected_index, int64_t{3});  // batches of 4, 4 and 2
    QVERIFY(!loader.next());               // stays finished
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(10);
    std::iota(all.begin(), all.end(), 0);
    QCOMPARE(sorted, all);
    QVERIFY(seen != all);  // shuffled (10! orders: identity has probability 1 / 3628800)
  }

  void loaderDropsThePartialBatch() {
    kd::BatchLoader loader(numbered_split(10), identity_stats(), kd::LoaderOptions().batch_size(4));
    QCOMPARE(loader.batches_per_epoch(), int64_t{2});
    const auto batches = epoch_ids(loader, 0);
    QCOMPARE(batches.size(), size_t{2});
    std::set<int64_t> distinct;
    for (const auto& b : batches) {
      QCOMPARE(b.size(), size_t{4});
      distinct.insert(b.begin(), b.end());
    }
    QCOMPARE(distinct.size(), size_t{8});
  }

  void loaderFollowsGivenIndicesWithoutShuffle() {
    kd::BatchLoader loader(numbered_split(10), identity_stats(),
                           kd::LoaderOptions().batch_size(2).shuffle(false).drop_last(false),
                           std::vector<int64_t>{7, 2, 5});
    QCOMPARE(loader.size(), int64_t{3});
    QCOMPARE(epoch_ids(loader, 4), (std::vector<std::vector<int64_t>>{{7, 2}, {5}}));
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::BatchLoader(numbered_split(10), identity_stats(), {},
                                                        std::vector<int64_t>{10}));
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::BatchLoader(numbered_split(10), identity_stats(), {},
                                                        std::vector<int64_t>{}));
    QVERIFY_THROWS_EXCEPTION(kd::Error, kd::BatchLoader(numbered_split(10), identity_stats(),
                                                        kd::LoaderOptions().batch_size(0)));
  }

  void loaderOrderDependsOnEpochNotWorkers() {
    kd::DatasetSplit split;
    split.images = noise_batch(50, 3, 6, 6);
    split.labels = torch::arange(50, torch::kLong).remainder(5);
    const kd::ChannelStats stats{{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}};
    const auto run = [&](int workers, int64_t epoch) {
      kd::BatchLoader loader(
          split, stats,
          kd::LoaderOptions().batch_size(8).augment(true).seed(9).workers(workers).prefetch(2));
      loader.start_epoch(epoch);
      std::vector<kd::Batch> batches;
      while (auto b = loader.next()) batches.push_back(*b);
      return batches;
    };
    const auto one = run(1, 1);
    QCOMPARE(one.size(), size_t{6});  // 50 / 8, partial batch dropped
    for (int workers : {0, 3}) {
      const auto other = run(workers, 1);
      QCOMPARE(other.size(), one.size());
      for (size_t b = 0; b < one.size(); ++b) {
        QVERIFY(torch::equal(one[b].images, other[b].images));
        QVERIFY(torch::equal(one[b].labels, other[b].labels));
      }
    }
    QVERIFY(!torch::equal(run(1, 2)[0].images, one[0].images));
  }

  void loaderEpochsDifferAndRepeat() {
    kd::BatchLoader loader(numbered_split(40), identity_stats(),
                           kd::LoaderOptions().batch_size(10).workers(3));
    const auto first = epoch_ids(loader, 0);
    const auto second = epoch_ids(loader, 1);
    QVERIFY(first != second);
    QCOMPARE(epoch_ids(loader, 0), first);  // an epoch is reproducible
    // next() without start_epoch begins epoch 0.
    kd::BatchLoader fresh(numbered_split(40), identity_stats(), kd::LoaderOptions().batch_size(10));
    QCOMPARE(sample_ids(*fresh.next()), first[0]);
  }

  void loaderStopsCleanlyMidEpoch() {
    kd::DatasetSplit split;
    split.images = noise_batch(2000, 3, 32, 32);
    split.labels = torch::zeros({2000}, torch::kLong);
    const auto options = kd::LoaderOptions().batch_size(8).augment(true).workers(3).prefetch(2);
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < 20; ++round) {
      kd::BatchLoader loader(split, identity_stats(3), options);
      loader.start_epoch(0);
      QVERIFY(loader.next().has_value());
      if (round % 2) {
        loader.start_epoch(1);  // abandons epoch 0 with workers busy
        QCOMPARE(loader.next()->index, int64_t{0});
      }
    }  // each loader is destroyed with its workers waiting on a full queue or mid-batch
    QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    kd::BatchLoader loader(split, identity_stats(3), options);
    loader.start_epoch(5);
    int64_t count = 0;
    while (loader.next()) ++count;
    QCOMPARE(count, int64_t{250});
  }
};

QTEST_APPLESS_MAIN(TestDataPipeline)
#include "test_data_pipeline.moc"
