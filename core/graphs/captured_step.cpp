#include "graphs/captured_step.h"

#include <utility>

#include "common/error.h"
#include "common/error_text.h"
#include "common/torch_compat.h"

#ifdef KD_WITH_CUDA_GRAPHS
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace kd {

namespace {

void set_grads_to_none(std::vector<torch::Tensor>& params) {
  for (auto& p : params) p.mutable_grad().reset();
}

}  // namespace

#ifdef KD_WITH_CUDA_GRAPHS
/// The captured graph and the side stream it runs on (graphs are captured on a stream other than
/// the default one, and warmed up there first).
struct CapturedStep::Graph {
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
  at::cuda::CUDAGraph graph;
  bool ready = false;

  /// Runs `work` on the side stream, ordered after everything already queued on the current
  /// stream, and makes the current stream wait for it.
  template <typename Work>
  void on_side_stream(Work&& work) {
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream();
    at::cuda::CUDAEvent before;
    before.record(current);
    before.block(stream);
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      work();
    }
    at::cuda::CUDAEvent after;
    after.record(stream);
    after.block(current);
  }
};
#else
struct CapturedStep::Graph {
  bool ready = false;
};
#endif

std::string CapturedStep::unavailable_reason(const torch::Device& device) {
  if (!device.is_cuda()) return "training on the CPU";
#ifdef KD_WITH_CUDA_GRAPHS
  return "";
#else
  return "this build of KD Studio has no CUDA graph support";
#endif
}

CapturedStep::CapturedStep(torch::optim::Optimizer& optimizer, Forward forward, bool capture,
                           std::function<void(const std::string&)> note)
    : optimizer_(optimizer), forward_(std::move(forward)), note_(std::move(note)) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) params_.push_back(p);
  }
#ifdef KD_WITH_CUDA_GRAPHS
  if (capture) graph_ = std::make_unique<Graph>();
#else
  (void)capture;  // unavailable_reason() says why
#endif
}

CapturedStep::~CapturedStep() = default;

bool CapturedStep::captured() const { return graph_ && graph_->ready; }

void CapturedStep::copy_inputs(const torch::Tensor& images, const torch::Tensor& labels, const TeacherBatch& targets) {
  if (!images_.defined()) {
    images_ = images.clone();
    labels_ = labels.clone();
    for (const auto& f : targets.features) targets_.features.push_back(f.clone());
    if (targets.logits.defined()) targets_.logits = targets.logits.clone();
    return;
  }
  images_.copy_(images, /*non_blocking=*/true);
  labels_.copy_(labels, /*non_blocking=*/true);
  for (size_t i = 0; i < targets.features.size(); ++i) targets_.features[i].copy_(targets.features[i], true);
  if (targets.logits.defined()) targets_.logits.copy_(targets.logits, true);
}

bool CapturedStep::same_shapes(const torch::Tensor& images, const torch::Tensor& labels,
                               const TeacherBatch& targets) const {
  if (!images_.defined()) return true;
  if (images.sizes() != images_.sizes() || labels.sizes() != labels_.sizes()) return false;
  if (targets.features.size() != targets_.features.size() || targets.logits.defined() != targets_.logits.defined()) {
    return false;
  }
  for (size_t i = 0; i < targets.features.size(); ++i) {
    if (targets.features[i].sizes() != targets_.features[i].sizes()) return false;
  }
  return !targets.logits.defined() || targets.logits.sizes() == targets_.logits.sizes();
}

void CapturedStep::body() {
  loss_ = forward_(images_, labels_, targets_);
  loss_.total.backward();
  optimizer_.step();
}

void CapturedStep::eager_step() {
  set_grads_to_none(params_);
  body();
}

void CapturedStep::fall_back(const std::string& why) {
  if (graph_) {
    graph_.reset();
    if (note_ && !noted_) note_("CUDA graphs: off from here on (" + why + "); training goes on without them");
    noted_ = true;
  }
}

const LossBreakdown& CapturedStep::run(const torch::Tensor& images, const torch::Tensor& labels,
                                       const TeacherBatch& targets, double lr, double beta1_or_momentum) {
  if (!same_shapes(images, labels, targets)) {
    // A batch of another shape cannot use the static buffers: it runs eagerly, alone.
    fall_back("a batch of another shape");
    images_ = labels_ = torch::Tensor();
    targets_ = TeacherBatch();
  }
  optimizer_.set_hyperparameters(lr, beta1_or_momentum);
  if (!graph_) {
    copy_inputs(images, labels, targets);
    eager_step();
    ++steps_;
    return loss_;
  }
#ifdef KD_WITH_CUDA_GRAPHS
  bool capturing = false;
  try {
    graph_->on_side_stream([&] {
      copy_inputs(images, labels, targets);
      if (graph_->ready) {
        graph_->graph.replay();
      } else if (steps_ == 0) {
        eager_step();  // warms the side stream (cuBLAS and cuDNN handles, the allocator)
      } else {
        set_grads_to_none(params_);  // gradients allocated inside the graph: static addresses
        compat::begin_thread_local_capture(graph_->graph, cudaStreamCaptureModeThreadLocal);
        capturing = true;
        body();
        capturing = false;
        graph_->graph.capture_end();
        graph_->ready = true;
        graph_->graph.replay();  // capturing ran nothing
      }
    });
  } catch (const c10::Error& e) {
    // Nothing ran in a capture that failed: the step is done again eagerly.
    if (capturing) {
      try {
        graph_->graph.capture_end();  // ends the stream's capture mode; its error is the one above
      } catch (const c10::Error&) {
      }
    }
    fall_back("the step could not be captured: " + first_error_line(e));
    torch::cuda::synchronize();
    copy_inputs(images, labels, targets);
    eager_step();
  }
#endif
  ++steps_;
  return loss_;
}

}  // namespace kd
