#pragma once
// What a distillation step needs from the frozen teacher, computed online or once for the whole
// training set (method.md section 4: without augmentation the targets are fixed per sample).
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/progress.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "models/layered_model.h"

namespace kd {

/// The teacher outputs a method needs per batch.
struct TeacherRequest {
  std::vector<int> layers;  ///< teacher layers whose features are needed, in pairing order
  /// Per layer: the student feature shape (without batch) it is paired with, to reduce the
  /// teacher feature to what align_features would pool it to; empty = keep it whole.
  std::vector<std::vector<int64_t>> reduce_to;
  bool logits = false;  ///< the teacher's logits (for KD)

  bool empty() const { return layers.empty() && !logits; }
};

/// The teacher's outputs for one batch, in the order of TeacherRequest::layers.
struct TeacherBatch {
  std::vector<torch::Tensor> features;
  torch::Tensor logits;
};

/// The teacher feature `t` (batch first) reduced, in its own layout, to the size align_features
/// pools it to against a student feature of shape `student_shape` (without batch): aligning the
/// result again pools nothing, so cached and online targets give the same loss.
torch::Tensor reduce_teacher_feature(const torch::Tensor& t, const std::vector<int64_t>& student_shape);

/// Runs the teacher (which must be in eval mode, on the images' device) under no-grad.
TeacherBatch run_teacher(LayeredModel& teacher, const TeacherRequest& request,
                         const torch::Tensor& images);

/// Where cached targets live.
enum class CacheStorage { kMemory, kDisk };

/// Settings of a TeacherTargetCache.
struct CacheOptions {
  CacheStorage storage = CacheStorage::kMemory;
  bool fp16 = false;            ///< store float16 (targets come back as float32)
  std::string disk_dir;         ///< folder for the disk file (deleted when the cache goes)
  int64_t batch_size = 256;     ///< teacher batch while filling
  std::string device = "cpu";   ///< where the teacher runs while filling
  bool inference_copy = true;   ///< fill through LayeredModel::inference_copy when it has one
  /// Data parallelism: this process computes only the rows of shard `shard_rank` of
  /// `shard_count` (shard_rows()); the others' rows stay zero until they are exchanged
  /// (stores()).
  int shard_rank = 0;
  int shard_count = 1;
};

/// Teacher targets for a fixed set of training samples, computed once. Memory storage keeps
/// them in RAM; disk storage in a memory-mapped file that is unlinked at once (nothing is left
/// behind, even after a crash), so only the pages in use occupy memory.
class TeacherTargetCache {
 public:
  /// Runs the teacher over `indices` of `split` (normalized with `stats`, no augmentation).
  /// Throws kd::Cancelled when `progress` asks to stop, kd::Error when the disk file cannot be
  /// made.
  TeacherTargetCache(LayeredModel& teacher, const TeacherRequest& request,
                     const DatasetSplit& split, const ChannelStats& stats,
                     const std::vector<int64_t>& indices, const CacheOptions& options,
                     ProgressSink* progress = nullptr);
  ~TeacherTargetCache();
  TeacherTargetCache(const TeacherTargetCache&) = delete;
  TeacherTargetCache& operator=(const TeacherTargetCache&) = delete;

  /// Targets of the samples at `samples` (positions in the split, int64), as float32 on
  /// `device`. Throws kd::Error for a sample that was not cached.
  TeacherBatch gather(const torch::Tensor& samples, const torch::Device& device) const;

  /// Bytes the targets occupy (in RAM or on disk).
  int64_t bytes() const { return bytes_; }
  /// Storage in use.
  CacheStorage storage() const { return options_.storage; }

  /// The tensors holding the targets (rows in the order of the indices given), for exchanging
  /// shards between processes: writing into their rows changes the cache.
  std::vector<torch::Tensor> stores() const;

  /// Rows [first, second) of `rows` that shard `rank` of `count` computes.
  static std::pair<int64_t, int64_t> shard_rows(int64_t rows, int rank, int count);

  /// Bytes one sample's targets take for `teacher` and `request` (to choose the storage).
  static int64_t bytes_per_sample(const LayeredModel& teacher, const TeacherRequest& request,
                                  bool fp16);

 private:
  torch::Tensor allocate(const std::vector<int64_t>& shape);

  CacheOptions options_;
  std::vector<torch::Tensor> features_;  // (N, ...) per requested layer
  torch::Tensor logits_;
  torch::Tensor row_of_;  // split position -> row, -1 when not cached
  int64_t bytes_ = 0;
  std::vector<std::pair<void*, size_t>> mappings_;  // disk storage
};

}  // namespace kd
