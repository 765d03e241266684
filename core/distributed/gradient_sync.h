#pragma once
// Gradient averaging for data parallelism, as PyTorch's DistributedDataParallel does it: the
// parameters' gradients are packed into flat buckets, and each bucket's all-reduce starts as
// soon as backward has produced all of its gradients, overlapping the rest of backward.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/communicator.h"

namespace kd {

/// Averages the gradients of `params` over the ranks of a Communicator. Use begin_step()
/// before backward and end_step() after it; between them, every rank must run backward over
/// the same graph (the same parameters receive gradients on every rank).
class GradientSync {
 public:
  /// DDP's default bucket size (25 MiB).
  static constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

  /// Buckets are filled in reverse parameter order (the order backward produces gradients in),
  /// one dtype per bucket. Registers a hook on each parameter (removed by the destructor).
  GradientSync(std::vector<torch::Tensor> params, Communicator& comm,
               int64_t bucket_bytes = kDefaultBucketBytes);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  /// Arms the hooks for one backward pass.
  void begin_step();
  /// Reduces the buckets backward did not complete, waits for all of them and replaces each
  /// gradient by the mean over the ranks. Parameters that got no gradient keep none.
  void end_step();

  /// Number of buckets.
  size_t bucket_count() const { return buckets_.size(); }
  /// Bytes all-reduced per step.
  int64_t bytes_per_step() const;

 private:
  struct Bucket {
    torch::Tensor flat;                             // the gradients of its parameters, end to end
    std::vector<size_t> params;
    size_t waiting = 0;                             // gradients still to come this step
    std::unique_ptr<Communicator::Pending> pending; // its all-reduce, while it runs
  };
  void on_gradient(size_t param, const torch::Tensor& grad);
  void launch_ready();

  std::vector<torch::Tensor> params_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;     // parameter -> bucket
  std::vector<int64_t> offset_of_;    // parameter -> element offset in its bucket
  std::vector<char> has_grad_;        // parameter received a gradient this step
  std::vector<unsigned> hooks_;
  size_t next_launch_ = 0;            // buckets launch strictly in order on every rank
  bool armed_ = false;
};

}  // namespace kd
