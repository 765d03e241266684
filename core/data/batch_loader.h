#pragma once
#include <torch/arg.h>
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace kd {

/// How a BatchLoader iterates a split. Fluent setters: LoaderOptions().batch_size(64).seed(1).
struct LoaderOptions {
  /// Samples per batch.
  TORCH_ARG(int64_t, batch_size) = 128;
  /// Visit the samples in a new random order every epoch.
  TORCH_ARG(bool, shuffle) = true;
  /// Skip the last batch when it would be smaller than batch_size.
  TORCH_ARG(bool, drop_last) = true;
  /// Random crop (zero padding `padding`) and horizontal flip, see augment_crop_flip.
  TORCH_ARG(bool, augment) = false;
  /// Zero padding of the augmentation's random crop.
  TORCH_ARG(int, padding) = 4;
  /// Seeds the epoch order and the augmentation.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Threads preparing batches; 0 prepares each batch in next() itself.
  TORCH_ARG(int, workers) = 2;
  /// Most batches prepared ahead of the consumer.
  TORCH_ARG(int, prefetch) = 4;
  /// Put images and labels in page-locked memory (needs CUDA), so that copies to the GPU can be
  /// asynchronous (to(device, non_blocking = true)).
  TORCH_ARG(bool, pin_memory) = false;
  /// Data parallelism (DistributedSampler's semantics): this loader serves the shard of rank
  /// `shard_rank` of `shard_count`. Every rank draws the same epoch order, cut to a multiple of
  /// `shard_count`, and takes every shard_count-th sample of it starting at its rank; batches
  /// are batch_size samples of that shard. Batch k of all the ranks together holds the samples
  /// of batch k of one loader with batch_size x shard_count.
  TORCH_ARG(int, shard_rank) = 0;
  /// Number of ranks sharing the epoch (1: no sharding).
  TORCH_ARG(int, shard_count) = 1;
};

/// One batch: normalized float32 images B x C x H x W, int64 labels B, the samples' positions
/// in the split (int64 B), and the batch's position in the epoch (0, 1, ...).
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
  torch::Tensor samples;
  int64_t index = 0;
};

/// Serves a split (or a subset of it) batch by batch, normalized with given channel statistics
/// and optionally augmented. Worker threads prepare batches ahead into a bounded queue; batches
/// come out in order and are identical whatever the number of workers: the epoch order depends
/// only on (seed, epoch) and a batch's augmentation on (seed, epoch, batch index). Not
/// thread-safe itself: one thread calls start_epoch() and next().
class BatchLoader {
 public:
  /// A loader over `split`, restricted to `indices` (in that order when not shuffling) when
  /// given. Throws kd::Error for an out-of-range index, an empty selection, or bad options.
  BatchLoader(DatasetSplit split, ChannelStats stats, LoaderOptions options = {},
              std::optional<std::vector<int64_t>> indices = std::nullopt);
  /// Stops and joins the workers, also in the middle of an epoch.
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// Begins epoch `epoch` (abandoning any unfinished one). next() without it starts epoch 0.
  void start_epoch(int64_t epoch);
  /// The next batch of the current epoch, or nullopt when the epoch is over. Rethrows an
  /// exception raised while preparing the batch.
  std::optional<Batch> next();
  /// Batches next() returns per epoch.
  int64_t batches_per_epoch() const;
  /// Samples the loader draws from (the subset size when restricted).
  int64_t size() const { return static_cast<int64_t>(indices_.size()); }
  /// Samples this loader's rank visits per epoch (size() without sharding).
  int64_t shard_size() const { return size() / options_.shard_count(); }
  /// The options it was made with.
  const LoaderOptions& options() const { return options_; }

 private:
  Batch make_batch(int64_t batch_index) const;
  void worker_loop();
  void stop_workers();

  DatasetSplit split_;
  ChannelStats stats_;
  LoaderOptions options_;
  std::vector<int64_t> indices_;  ///< the selection, in its given order

  // Epoch state: written by start_epoch() while no worker runs, then read-only.
  std::vector<int64_t> order_;  ///< the sample indices of this epoch, in visiting order
  int64_t epoch_ = 0;
  bool started_ = false;

  // Shared with the workers, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_cv_;   ///< wakes workers: room in the queue, or stop
  std::condition_variable ready_cv_;  ///< wakes the consumer: a batch or an error is ready
  std::map<int64_t, Batch> ready_;    ///< prepared batches by index
  std::exception_ptr error_;          ///< the failure of the earliest failing batch
  int64_t error_batch_ = 0;           ///< the index of that batch
  int64_t next_claim_ = 0;            ///< the next batch a worker will prepare
  int64_t next_deliver_ = 0;          ///< the next batch next() returns
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kd
