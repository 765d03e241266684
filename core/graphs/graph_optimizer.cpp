#include "graphs/graph_optimizer.h"

#include "common/error.h"
#include "common/torch_compat.h"

namespace kd {

namespace {

template <typename State>
State* state_of(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& state = optimizer.state();
  const auto it = state.find(compat::optimizer_state_key(state, p));
  return it == state.end() ? nullptr : dynamic_cast<State*>(it->second.get());
}

}  // namespace

GraphOptimizer::GraphOptimizer(torch::optim::Optimizer& optimizer) : optimizer_(optimizer) {
  auto* adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer);
  auto* sgd = dynamic_cast<torch::optim::SGD*>(&optimizer);
  if (!adamw && !sgd) throw Error("the CUDA-graph step supports the AdamW and SGD optimizers only");
  adamw_ = adamw != nullptr;
  if (optimizer.param_groups().size() != 1) throw Error("the CUDA-graph step needs one parameter group");
  auto& group = optimizer.param_groups()[0];
  torch::Device device(torch::kCPU);
  if (adamw_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (o.amsgrad()) throw Error("the CUDA-graph step does not support AMSGrad");
    beta2_ = std::get<1>(o.betas());
    eps_ = o.eps();
    weight_decay_ = o.weight_decay();
  } else {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    if (o.nesterov() || o.dampening() != 0) throw Error("the CUDA-graph step supports SGD without Nesterov and dampening");
    weight_decay_ = o.weight_decay();
  }
  int64_t step = -1;
  for (const auto& p : group.params()) {
    if (!p.grad().defined()) continue;  // never trained: the ordinary step skips it too
    Slot s;
    s.param = p;
    if (adamw_) {
      auto* st = state_of<torch::optim::AdamWParamState>(optimizer, p);
      if (!st) throw Error("the CUDA-graph step starts after an ordinary step (a parameter has no AdamW state)");
      s.exp_avg = st->exp_avg();
      s.exp_avg_sq = st->exp_avg_sq();
      s.initial_step = st->step();
      // One step count for all: parameters trained from the start share it.
      if (step >= 0 && st->step() != step) throw Error("the CUDA-graph step needs one step count for all parameters");
      step = st->step();
    } else if (auto* st = state_of<torch::optim::SGDParamState>(optimizer, p)) {
      s.momentum_buffer = st->momentum_buffer();
    }
    device = p.device();
    slots_.push_back(std::move(s));
  }
  if (slots_.empty()) throw Error("the CUDA-graph step found no parameter with a gradient");
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  lr_ = torch::zeros({}, f64);
  beta1_ = torch::zeros({}, f64);
  step_ = torch::full({}, static_cast<double>(std::max<int64_t>(step, 0)), f64);
}

void GraphOptimizer::set_hyperparameters(double lr, double beta1_or_momentum) {
  lr_.fill_(lr);
  beta1_.fill_(beta1_or_momentum);
}

void GraphOptimizer::step() {
  torch::NoGradGuard no_grad;
  if (adamw_) {
    // LibTorch's AdamW::step, term by term, with the host's numbers as device tensors (float64,
    // rounded to float where they meet the parameters, as the host's double scalars are).
    step_.add_(1);
    const torch::Tensor decay = 1 - lr_ * weight_decay_;
    const torch::Tensor bias_correction1 = 1 - torch::pow(beta1_, step_);
    const torch::Tensor bias_correction2_sqrt = (1 - torch::pow(torch::full_like(step_, beta2_), step_)).sqrt_();
    const torch::Tensor neg_step_size = -lr_ / bias_correction1;
    const torch::Tensor one_minus_beta1 = 1 - beta1_;
    for (auto& s : slots_) {
      const torch::Tensor& grad = s.param.grad();
      if (weight_decay_ != 0) s.param.mul_(decay);
      s.exp_avg.mul_(beta1_).add_(grad * one_minus_beta1);
      s.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
      const torch::Tensor denom = s.exp_avg_sq.sqrt().div_(bias_correction2_sqrt).add_(eps_);
      s.param.add_(s.exp_avg.mul(neg_step_size).div_(denom));  // addcdiv's order: (value * t1) / t2
    }
  } else {
    const torch::Tensor neg_lr = -lr_;
    for (auto& s : slots_) {
      torch::Tensor d_p = s.param.grad();
      if (weight_decay_ != 0) d_p = d_p.add(s.param, weight_decay_);
      if (s.momentum_buffer.defined()) {
        s.momentum_buffer.mul_(beta1_).add_(d_p);
        d_p = s.momentum_buffer;
      }
      s.param.add_(d_p.mul(neg_lr));
    }
  }
}

void GraphOptimizer::sync_to_optimizer(int64_t steps_taken) {
  if (!adamw_) return;
  for (auto& s : slots_) {
    if (auto* st = state_of<torch::optim::AdamWParamState>(optimizer_, s.param)) st->step(s.initial_step + steps_taken);
  }
}

}  // namespace kd
