#include "analysis/activation_chain.h"

#include "analysis/knowledge_quality.h"
#include "common/error.h"

namespace kd {

ActivationChain::ActivationChain(LayeredModel& model, const torch::Tensor& images,
                                 const ChannelStats& stats, torch::Device device,
                                 int64_t batch_size)
    : model_(model), device_(device), batch_size_(std::max<int64_t>(1, batch_size)) {
  model_.set_training(false);
  model_.to(device_);
  current_ = torch::empty(images.sizes(), torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  for (int64_t a = 0; a < images.size(0); a += batch_size_) {
    const int64_t n = std::min(batch_size_, images.size(0) - a);
    current_.narrow(0, a, n).copy_(to_normalized_float(images.narrow(0, a, n), stats));
  }
}

void ActivationChain::advance(ProgressSink* progress) {
  torch::NoGradGuard no_grad;
  const int next = layer_ + 1;
  if (next >= model_.num_layers()) throw Error("activation chain: no layer after " + std::to_string(layer_));
  const auto& info = model_.layers()[static_cast<size_t>(next)];
  std::vector<int64_t> out_shape = {current_.size(0)};
  out_shape.insert(out_shape.end(), info.shape.begin(), info.shape.end());
  const int64_t n = current_.size(0);
  const int64_t in_dim = current_.numel() / std::max<int64_t>(1, n);
  const int64_t out_dim = c10::multiply_integers(info.shape);
  // Reuse the current storage when the new outputs are no larger: batch rows [a, b) of the
  // output occupy elements [a*out_dim, b*out_dim), which never reach input rows not yet read.
  const bool in_place = out_dim <= in_dim && current_.is_contiguous();
  torch::Tensor out = in_place ? current_.view(-1).narrow(0, 0, n * out_dim).view({n, out_dim})
                               : torch::empty({n, out_dim}, current_.options());
  for (int64_t a = 0; a < n; a += batch_size_) {
    throw_if_cancelled(progress);
    const int64_t m = std::min(batch_size_, n - a);
    torch::Tensor y = model_.forward_range(current_.narrow(0, a, m), next, next);
    if (in_place && y.is_alias_of(current_)) y = y.clone();  // e.g. a Flatten returns a view
    out.narrow(0, a, m).copy_(y.reshape({m, out_dim}));
    if (progress != nullptr) {
      progress->progress(static_cast<double>(a + m) / static_cast<double>(n),
                         "layer " + std::to_string(next) + " " + std::to_string(a + m) + "/" +
                             std::to_string(n));
    }
  }
  current_ = out.view(out_shape);
  layer_ = next;
}

torch::Tensor ActivationChain::flat_features() const {
  torch::Tensor x = current_;
  if (x.dim() == 4) {
    const int64_t k = feature_pool_factor(x[0].numel());
    if (k > 1) {
      namespace F = torch::nn::functional;
      x = F::max_pool2d(x, F::MaxPool2dFuncOptions(k).stride(k).ceil_mode(true));
    }
  }
  return x.reshape({x.size(0), -1});
}

}  // namespace kd
