#include "distill/lr_schedule.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <string>
#include <tuple>

#include "common/error.h"

namespace kd {
namespace {

[[noreturn]] void fail(const std::string& what) { throw Error(what); }

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_momentum(const char* name, double v) {
  if (!(v >= 0.0 && v < 1.0)) {
    fail(std::string("one-cycle schedule: ") + name + " must be in [0, 1), got " + num(v));
  }
}

}  // namespace

OneCycleSchedule::OneCycleSchedule(double max_lr, int64_t total_steps, OneCycleOptions options)
    : max_lr_(max_lr), total_steps_(total_steps), options_(options) {
  const OneCycleOptions& o = options_;
  if (!(std::isfinite(max_lr) && max_lr > 0.0)) {
    fail("one-cycle schedule: the peak learning rate must be a positive number, got " +
         num(max_lr));
  }
  if (total_steps < 2) {
    fail("one-cycle schedule: total_steps must be at least 2, got " + std::to_string(total_steps));
  }
  if (!(o.pct_start_ >= 0.0 && o.pct_start_ <= 1.0)) {
    fail("one-cycle schedule: pct_start must be between 0 and 1, got " + num(o.pct_start_));
  }
  if (!(std::isfinite(o.div_factor_) && o.div_factor_ > 0.0)) {
    fail("one-cycle schedule: div_factor must be positive, got " + num(o.div_factor_));
  }
  if (!(std::isfinite(o.final_div_factor_) && o.final_div_factor_ > 0.0)) {
    fail("one-cycle schedule: final_div_factor must be positive, got " + num(o.final_div_factor_));
  }
  if (o.cycle_momentum_) {
    check_momentum("base_momentum", o.base_momentum_);
    check_momentum("max_momentum", o.max_momentum_);
  }

  // Same arithmetic, in the same order, as PyTorch 1.13 so the doubles agree bit for bit.
  initial_lr_ = max_lr_ / o.div_factor_;
  min_lr_ = initial_lr_ / o.final_div_factor_;
  const double steps = static_cast<double>(total_steps_);
  const double warmup_end = o.pct_start_ * steps - 1;
  const double lo = o.base_momentum_, hi = o.max_momentum_;
  phases_.push_back({warmup_end, initial_lr_, max_lr_, hi, lo});
  if (o.three_phase_) {
    phases_.push_back({2 * o.pct_start_ * steps - 2, max_lr_, initial_lr_, lo, hi});
    phases_.push_back({steps - 1, initial_lr_, min_lr_, hi, hi});
  } else {
    phases_.push_back({steps - 1, max_lr_, min_lr_, lo, hi});
  }
  // PyTorch divides by zero at step 0 when the warm-up ends exactly there.
  if (warmup_end == 0.0) {
    fail("one-cycle schedule: pct_start * total_steps is exactly 1 (pct_start " +
         num(o.pct_start_) + ", total_steps " + std::to_string(total_steps_) +
         "), which leaves a warm-up phase of zero length; choose another pct_start");
  }
}

double OneCycleSchedule::anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy_ == AnnealStrategy::kLinear) return (end - start) * pct + start;
  const double cos_out = std::cos(std::numbers::pi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

OneCycleSchedule::Point OneCycleSchedule::at(int64_t step) const {
  if (step < 0) fail("one-cycle schedule: step must not be negative, got " + std::to_string(step));
  if (step >= total_steps_) {
    fail("one-cycle schedule: tried to use step " + std::to_string(step) +
         " but the schedule has " + std::to_string(total_steps_) + " steps (0 to " +
         std::to_string(total_steps_ - 1) +
         "); the scheduler was stepped more times than total_steps");
  }
  const double s = static_cast<double>(step);
  double start_step = 0.0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (s <= p.end_step || i + 1 == phases_.size()) {
      const double pct = (s - start_step) / (p.end_step - start_step);
      return {anneal(p.start_lr, p.end_lr, pct), anneal(p.start_momentum, p.end_momentum, pct)};
    }
    start_step = p.end_step;
  }
  fail("one-cycle schedule: internal error, no phase for step " + std::to_string(step));
}

double OneCycleSchedule::lr(int64_t step) const { return at(step).lr; }

double OneCycleSchedule::beta1(int64_t step) const {
  if (!options_.cycle_momentum_) {
    fail("one-cycle schedule: momentum is not cycled (cycle_momentum is off), so it has no beta1");
  }
  return at(step).momentum;
}

MultiStepSchedule::MultiStepSchedule(double base_lr, std::vector<int64_t> milestones, double gamma)
    : base_lr_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  if (!(std::isfinite(base_lr) && base_lr > 0.0)) {
    fail("multi-step schedule: the learning rate must be a positive number, got " + num(base_lr));
  }
  if (!(std::isfinite(gamma) && gamma > 0.0)) {
    fail("multi-step schedule: gamma must be a positive number, got " + num(gamma));
  }
  for (int64_t m : milestones_) {
    if (m < 0)
      fail("multi-step schedule: milestones must not be negative, got " + std::to_string(m));
  }
  std::sort(milestones_.begin(), milestones_.end());
}

double MultiStepSchedule::lr(int64_t epoch) const {
  if (epoch < 0)
    fail("multi-step schedule: epoch must not be negative, got " + std::to_string(epoch));
  // PyTorch's step() multiplies the group's LR by gamma**count at each milestone reached, so the
  // product is accumulated the same way (not base * gamma**n) to match its rounding.
  double lr = base_lr_;
  for (size_t i = 0; i < milestones_.size() && milestones_[i] <= epoch;) {
    size_t j = i;
    while (j < milestones_.size() && milestones_[j] == milestones_[i]) ++j;
    lr = lr * std::pow(gamma_, static_cast<double>(j - i));
    i = j;
  }
  return lr;
}

void apply_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) {
    if (!group.has_options()) continue;  // the optimizer fills these in; kept for safety
    try {
      group.options().set_lr(lr);
    } catch (const c10::Error&) {
      fail("cannot set the learning rate: this optimizer type does not expose one");
    }
  }
}

void apply_beta1(torch::optim::Optimizer& opt, double beta1) {
  for (auto& group : opt.param_groups()) {
    if (!group.has_options()) continue;
    auto& o = group.options();
    if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&o)) {
      adamw->betas(std::make_tuple(beta1, std::get<1>(adamw->betas())));
    } else if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&o)) {
      adam->betas(std::make_tuple(beta1, std::get<1>(adam->betas())));
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&o)) {
      sgd->momentum(beta1);
    } else if (auto* rms = dynamic_cast<torch::optim::RMSpropOptions*>(&o)) {
      rms->momentum(beta1);
    } else {
      fail("cannot cycle momentum: the optimizer is not Adam, AdamW, SGD or RMSprop");
    }
  }
}


double current_beta1(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups()) {
    if (!group.has_options()) continue;
    auto& o = group.options();
    if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&o)) return std::get<0>(adamw->betas());
    if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&o)) return std::get<0>(adam->betas());
    if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&o)) return sgd->momentum();
    if (auto* rms = dynamic_cast<torch::optim::RMSpropOptions*>(&o)) return rms->momentum();
  }
  return 0;
}

}  // namespace kd
