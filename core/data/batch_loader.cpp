#include "data/batch_loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "common/error.h"
#include "data/seeded_random.h"

namespace kd {
namespace {

/// Third seed word of the epoch order; batch augmentation uses the batch index there instead,
/// which never reaches this value.
constexpr uint64_t kOrderStream = ~uint64_t{0};

void check_options(const LoaderOptions& o) {
  if (o.batch_size() < 1) throw Error("data loader: batch size must be at least 1");
  if (o.workers() < 0) throw Error("data loader: the number of workers must not be negative");
  if (o.prefetch() < 1) throw Error("data loader: prefetch must be at least 1 batch");
  if (o.padding() < 0) throw Error("data loader: crop padding must not be negative");
  if (o.shard_count() < 1 || o.shard_rank() < 0 || o.shard_rank() >= o.shard_count()) {
    throw Error("data loader: rank " + std::to_string(o.shard_rank()) + " is not one of " +
                std::to_string(o.shard_count()) + " ranks");
  }
}

std::vector<int64_t> checked_indices(std::optional<std::vector<int64_t>> indices, int64_t size) {
  if (!indices) {
    std::vector<int64_t> all(static_cast<size_t>(size));
    std::iota(all.begin(), all.end(), int64_t{0});
    return all;
  }
  for (int64_t i : *indices) {
    if (i < 0 || i >= size) {
      throw Error("data loader: sample index " + std::to_string(i) +
                  " is outside the split (size " + std::to_string(size) + ")");
    }
  }
  return std::move(*indices);
}

}  // namespace

BatchLoader::BatchLoader(DatasetSplit split, ChannelStats stats, LoaderOptions options,
                         std::optional<std::vector<int64_t>> indices)
    : split_(std::move(split)), stats_(std::move(stats)), options_(options) {
  check_options(options_);
  if (!split_.images.defined() || split_.images.dim() != 4 ||
      split_.images.scalar_type() != torch::kUInt8) {
    throw Error("data loader: expected uint8 images N x C x H x W");
  }
  if (!split_.labels.defined() || split_.labels.dim() != 1 ||
      split_.labels.size(0) != split_.images.size(0)) {
    throw Error("data loader: expected one label per image");
  }
  if (static_cast<int64_t>(stats_.mean.size()) != split_.images.size(1)) {
    throw Error("data loader: the channel statistics do not match the images' " +
                std::to_string(split_.images.size(1)) + " channels");
  }
  split_.images = split_.images.contiguous();
  split_.labels = split_.labels.to(torch::kInt64).contiguous();
  indices_ = checked_indices(std::move(indices), split_.size());
  if (indices_.empty()) throw Error("data loader: there are no samples to load");
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = shard_size(), b = options_.batch_size();
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

void BatchLoader::start_epoch(int64_t epoch) {
  stop_workers();
  order_ = indices_;
  if (options_.shuffle()) {
    SeededRandom(mix_seed(options_.seed(), static_cast<uint64_t>(epoch), kOrderStream))
        .shuffle(order_);
  }
  if (options_.shard_count() > 1) {
    const size_t ranks = static_cast<size_t>(options_.shard_count());
    const size_t kept = order_.size() / ranks * ranks;  // the same count on every rank
    std::vector<int64_t> shard;
    shard.reserve(kept / ranks);
    for (size_t i = static_cast<size_t>(options_.shard_rank()); i < kept; i += ranks) {
      shard.push_back(order_[i]);
    }
    order_ = std::move(shard);
  }
  epoch_ = epoch;
  started_ = true;
  ready_.clear();
  error_ = nullptr;
  error_batch_ = 0;
  next_claim_ = 0;
  next_deliver_ = 0;
  stop_ = false;
  const int64_t threads = std::min<int64_t>(options_.workers(), batches_per_epoch());
  for (int64_t t = 0; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

std::optional<Batch> BatchLoader::next() {
  if (!started_) start_epoch(0);
  if (next_deliver_ >= batches_per_epoch()) return std::nullopt;
  if (workers_.empty()) return make_batch(next_deliver_++);

  std::unique_lock<std::mutex> lock(mutex_);
  ready_cv_.wait(lock, [this] {
    return ready_.count(next_deliver_) > 0 || (error_ && error_batch_ <= next_deliver_);
  });
  const auto found = ready_.find(next_deliver_);
  if (found == ready_.end()) std::rethrow_exception(error_);
  Batch batch = std::move(found->second);
  ready_.erase(found);
  ++next_deliver_;
  lock.unlock();
  work_cv_.notify_all();
  return batch;
}

void BatchLoader::worker_loop() {
  const int64_t total = batches_per_epoch();
  for (;;) {
    int64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] {
        return stop_ || error_ || next_claim_ >= total ||
               next_claim_ < next_deliver_ + options_.prefetch();
      });
      if (stop_ || error_ || next_claim_ >= total) return;
      index = next_claim_++;
    }
    try {
      Batch batch = make_batch(index);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      // Keep the earliest failure: the consumer receives every batch before it first.
      if (!error_ || index < error_batch_) {
        error_ = std::current_exception();
        error_batch_ = index;
      }
    }
    ready_cv_.notify_one();
  }
}

Batch BatchLoader::make_batch(int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size();
  const int64_t end = std::min(begin + options_.batch_size(), static_cast<int64_t>(order_.size()));
  // order_ does not change while a batch is being made, so the index tensor can borrow it.
  const torch::Tensor rows =
      torch::from_blob(const_cast<int64_t*>(order_.data() + begin), {end - begin}, torch::kInt64);
  // The images are gathered with memcpy, not index_select: worker threads must not run ATen's
  // parallel kernels (each would start an OpenMP team competing with the training threads).
  torch::Tensor images = torch::empty({end - begin, split_.images.size(1), split_.images.size(2),
                                       split_.images.size(3)},
                                      torch::kUInt8);
  const int64_t sample_bytes = images[0].numel();
  const uint8_t* all = split_.images.data_ptr<uint8_t>();
  uint8_t* dst = images.data_ptr<uint8_t>();
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(dst + (i - begin) * sample_bytes, all + order_[static_cast<size_t>(i)] * sample_bytes,
                static_cast<size_t>(sample_bytes));
  }
  if (options_.augment()) {
    // Each rank's batch gets its own stream (the same as before with one rank).
    const uint64_t seed = mix_seed(
        options_.seed(), static_cast<uint64_t>(epoch_),
        static_cast<uint64_t>(batch_index * options_.shard_count() + options_.shard_rank()));
    images = augment_crop_flip(images, seed, options_.padding());
  }
  Batch batch;
  batch.images = to_normalized_float(images, stats_);
  batch.labels = split_.labels.index_select(0, rows);
  if (options_.pin_memory()) {
    batch.images = batch.images.pin_memory();
    batch.labels = batch.labels.pin_memory();
  }
  batch.samples = rows.clone();
  batch.index = batch_index;
  return batch;
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

}  // namespace kd
