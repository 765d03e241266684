#include "distributed/gradient_sync.h"

#include <torch/torch.h>

#include "common/error.h"

namespace kd {

GradientSync::GradientSync(std::vector<torch::Tensor> params, Communicator& comm, int64_t bucket_bytes)
    : params_(std::move(params)), comm_(comm) {
  const size_t n = params_.size();
  bucket_of_.assign(n, 0);
  offset_of_.assign(n, 0);
  has_grad_.assign(n, 0);
  // Reverse order: the last layers' gradients come first in backward.
  std::vector<std::vector<size_t>> groups;
  int64_t bytes = 0;
  torch::Dtype dtype = torch::kFloat;
  for (size_t k = n; k-- > 0;) {
    const torch::Tensor& p = params_[k];
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    if (groups.empty() || bytes + b > bucket_bytes || p.scalar_type() != dtype) {
      if (groups.empty() || !groups.back().empty()) groups.emplace_back();
      bytes = 0;
      dtype = p.scalar_type();
    }
    groups.back().push_back(k);
    bytes += b;
  }
  buckets_.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    Bucket& bucket = buckets_[g];
    bucket.params = groups[g];
    int64_t elements = 0;
    for (size_t k : bucket.params) {
      bucket_of_[k] = g;
      offset_of_[k] = elements;
      elements += params_[k].numel();
    }
    const torch::Tensor& first = params_[bucket.params.front()];
    bucket.flat = torch::zeros({elements}, first.options().requires_grad(false));
  }
  for (size_t k = 0; k < n; ++k) {
    hooks_.push_back(params_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
  }
}

GradientSync::~GradientSync() {
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].remove_hook(hooks_[k]);
  // A step abandoned by an exception: its reductions must end before the buckets go.
  for (auto& bucket : buckets_) {
    if (!bucket.pending) continue;
    try {
      bucket.pending->wait();
    } catch (const std::exception&) {
    }
  }
}

int64_t GradientSync::bytes_per_step() const {
  int64_t bytes = 0;
  for (const auto& b : buckets_) bytes += b.flat.numel() * static_cast<int64_t>(b.flat.element_size());
  return bytes;
}

void GradientSync::begin_step() {
  for (auto& bucket : buckets_) {
    bucket.flat.zero_();
    bucket.waiting = bucket.params.size();
    bucket.pending.reset();
  }
  std::fill(has_grad_.begin(), has_grad_.end(), 0);
  next_launch_ = 0;
  armed_ = true;
}

void GradientSync::on_gradient(size_t param, const torch::Tensor& grad) {
  if (!armed_ || !grad.defined()) return;
  Bucket& bucket = buckets_[bucket_of_[param]];
  const torch::Tensor& p = params_[param];
  torch::NoGradGuard no_grad;
  bucket.flat.narrow(0, offset_of_[param], p.numel()).view(p.sizes()).add_(grad);
  if (!has_grad_[param]) {
    has_grad_[param] = 1;
    if (--bucket.waiting == 0) launch_ready();
  }
}

void GradientSync::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].waiting == 0) {
    Bucket& bucket = buckets_[next_launch_++];
    bucket.pending = comm_.all_reduce_async(bucket.flat);
  }
}

void GradientSync::end_step() {
  if (!armed_) throw Error("GradientSync::end_step() without begin_step()");
  armed_ = false;
  // Parameters without a gradient (unused in this graph) leave their bucket incomplete.
  for (; next_launch_ < buckets_.size(); ++next_launch_) {
    Bucket& bucket = buckets_[next_launch_];
    bucket.pending = comm_.all_reduce_async(bucket.flat);
  }
  const double ranks = static_cast<double>(comm_.world_size());
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) {
    bucket.pending->wait();
    bucket.pending.reset();
    bucket.flat.div_(ranks);
    for (size_t k : bucket.params) {
      if (!has_grad_[k]) continue;
      torch::Tensor& p = params_[k];
      const torch::Tensor mean = bucket.flat.narrow(0, offset_of_[k], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
  }
}

}  // namespace kd
