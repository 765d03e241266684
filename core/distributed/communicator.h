#pragma once
// The collectives of a data-parallel run, on PyTorch's c10d: a TCPStore rendezvous, Gloo between
// CPU processes, NCCL between GPUs where the LibTorch has it (docs/distributed.md).
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "distributed/launch_env.h"

namespace kd {

/// Another rank stopped (its connection closed), a collective timed out, or the rendezvous
/// could not complete. The message names the rank, the operation and what to do.
class RankFailure : public Error {
 public:
  using Error::Error;
};

/// How a Communicator is set up.
struct CommunicatorOptions {
  /// Bound on the rendezvous and on every collective: a rank that is gone or stuck for this long
  /// stops the others with RankFailure instead of a hang.
  std::chrono::seconds timeout{300};
  /// "cpu" or "cuda:N": the device of this rank. CUDA tensors are reduced with NCCL when this
  /// build has it (else Gloo), CPU tensors always with Gloo.
  std::string device = "cpu";
};

/// How all_reduce() combines the ranks' tensors.
enum class Reduce { kSum, kMin, kMax };

/// One rank's membership of a process group. Every rank must call the same collectives in the
/// same order with tensors of the same shapes and types.
class Communicator {
 public:
  /// An all_reduce() that runs in the background until wait().
  class Pending {
   public:
    virtual ~Pending() = default;
    /// Blocks until the result is in the tensor; throws RankFailure.
    virtual void wait() = 0;
  };

  /// Joins the rendezvous of `env` (rank 0 serves the TCPStore unless torchrun's agent does)
  /// and connects the process group. Throws RankFailure naming the ranks that did not join, or
  /// the address that could not be reached, within the timeout.
  static std::unique_ptr<Communicator> join(const LaunchEnv& env, const CommunicatorOptions& options = {});
  virtual ~Communicator() = default;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const LaunchEnv& env() const { return env_; }
  /// "gloo" or "nccl": the engine of the tensors' collectives.
  virtual std::string backend() const = 0;

  /// Reduces `tensor` (contiguous; CPU or this rank's GPU) in place on every rank.
  virtual void all_reduce(torch::Tensor& tensor, Reduce op = Reduce::kSum) = 0;
  /// Starts the sum of `tensor` in the background; the tensor must not be touched until wait().
  virtual std::unique_ptr<Pending> all_reduce_async(torch::Tensor& tensor) = 0;
  /// Overwrites `tensor` on every rank with root's (contiguous; CPU or this rank's GPU).
  virtual void broadcast(torch::Tensor& tensor, int root = 0) = 0;
  /// Root's text on every rank (over the CPU group, whatever the device).
  virtual std::string broadcast_text(const std::string& text, int root = 0) = 0;
  /// Root's text on every rank, passed through the rendezvous store: the other ranks wait up to
  /// `patience` (not the collective timeout), for waits as long as rank 0's preparation of an
  /// experiment (loading data, a layer analysis). A root that dies ends the wait at once when
  /// it served the store.
  virtual std::string share_text(const std::string& text, std::chrono::seconds patience, int root = 0) = 0;
  /// One int64 per rank reduced over the CPU group (flags, counters).
  virtual int64_t reduce_value(int64_t value, Reduce op) = 0;
  /// Waits until every rank is here.
  virtual void barrier() = 0;

  /// Tensor bytes all_reduce() and all_reduce_async() sent into so far (per rank).
  int64_t bytes_reduced() const { return bytes_reduced_; }

 protected:
  explicit Communicator(LaunchEnv env) : env_(std::move(env)) {}
  LaunchEnv env_;
  int64_t bytes_reduced_ = 0;
};

/// Whether this build can run several processes (it was built with c10d's Gloo).
bool distributed_available();

}  // namespace kd
