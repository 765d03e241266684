#pragma once
// Learning-rate (and momentum) schedules for the trainer, written to give the same numbers as
// PyTorch's torch.optim.lr_scheduler.OneCycleLR and MultiStepLR so that runs of KD Studio and
// of the paper's Python code follow identical schedules.
#include <cstdint>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace kd {

/// How OneCycleSchedule anneals between the phase end points.
enum class AnnealStrategy { kCos, kLinear };

/// Settings of a one-cycle schedule; defaults are PyTorch's OneCycleLR defaults.
struct OneCycleOptions {
  /// Fraction of the steps spent raising the LR (PyTorch `pct_start`), in [0, 1].
  OneCycleOptions& pct_start(double v) {
    pct_start_ = v;
    return *this;
  }
  /// Initial LR = max_lr / div_factor.
  OneCycleOptions& div_factor(double v) {
    div_factor_ = v;
    return *this;
  }
  /// Final LR = initial LR / final_div_factor.
  OneCycleOptions& final_div_factor(double v) {
    final_div_factor_ = v;
    return *this;
  }
  /// Cosine (default) or linear annealing.
  OneCycleOptions& anneal_strategy(AnnealStrategy v) {
    anneal_strategy_ = v;
    return *this;
  }
  /// Whether momentum (beta1 for Adam/AdamW) is cycled inversely to the LR.
  OneCycleOptions& cycle_momentum(bool v) {
    cycle_momentum_ = v;
    return *this;
  }
  /// Lowest momentum, reached when the LR peaks.
  OneCycleOptions& base_momentum(double v) {
    base_momentum_ = v;
    return *this;
  }
  /// Highest momentum, at the start and the end.
  OneCycleOptions& max_momentum(double v) {
    max_momentum_ = v;
    return *this;
  }
  /// PyTorch's three_phase variant (up, back down to the initial LR, then to the final LR).
  OneCycleOptions& three_phase(bool v) {
    three_phase_ = v;
    return *this;
  }

  double pct_start_ = 0.3;                                 ///< see pct_start()
  double div_factor_ = 25.0;                               ///< see div_factor()
  double final_div_factor_ = 1e4;                          ///< see final_div_factor()
  AnnealStrategy anneal_strategy_ = AnnealStrategy::kCos;  ///< see anneal_strategy()
  bool cycle_momentum_ = true;                             ///< see cycle_momentum()
  double base_momentum_ = 0.85;                            ///< see base_momentum()
  double max_momentum_ = 0.95;                             ///< see max_momentum()
  bool three_phase_ = false;                               ///< see three_phase()
};

/// PyTorch OneCycleLR as a pure function of the step: lr(s) and beta1(s) are the values the
/// optimizer holds after s calls of scheduler.step(), for s in [0, total_steps).
class OneCycleSchedule {
 public:
  /// Validates the settings; throws kd::Error for a bad max_lr, total_steps < 2 or bad options.
  OneCycleSchedule(double max_lr, int64_t total_steps, OneCycleOptions options = {});

  /// LR to use for the batch after `step` scheduler steps; throws kd::Error outside the range.
  double lr(int64_t step) const;
  /// Momentum (Adam/AdamW beta1, SGD momentum) at `step`; throws if momentum is not cycled.
  double beta1(int64_t step) const;

  /// Number of steps the schedule covers.
  int64_t total_steps() const { return total_steps_; }
  /// Peak LR.
  double max_lr() const { return max_lr_; }
  /// LR at step 0 (max_lr / div_factor).
  double initial_lr() const { return initial_lr_; }
  /// The LR the schedule anneals to at its end (initial_lr / final_div_factor).
  double min_lr() const { return min_lr_; }
  /// Whether beta1() is available.
  bool cycles_momentum() const { return options_.cycle_momentum_; }
  /// The validated options.
  const OneCycleOptions& options() const { return options_; }

 private:
  struct Phase {
    double end_step;
    double start_lr, end_lr;
    double start_momentum, end_momentum;
  };
  struct Point {
    double lr, momentum;
  };
  Point at(int64_t step) const;
  double anneal(double start, double end, double pct) const;

  double max_lr_;
  int64_t total_steps_;
  OneCycleOptions options_;
  double initial_lr_, min_lr_;
  std::vector<Phase> phases_;
};

/// PyTorch MultiStepLR stepped once per epoch: the LR is multiplied by gamma at each milestone.
class MultiStepSchedule {
 public:
  /// Throws kd::Error for a non-positive base_lr or gamma, or a negative milestone. Milestones
  /// may come in any order; a repeated milestone applies gamma once per occurrence (as PyTorch).
  MultiStepSchedule(double base_lr, std::vector<int64_t> milestones, double gamma = 0.1);

  /// LR during `epoch` (0-based, after `epoch` scheduler steps); throws for a negative epoch.
  double lr(int64_t epoch) const;

  /// The sorted milestones.
  const std::vector<int64_t>& milestones() const { return milestones_; }
  /// Factor applied at each milestone.
  double gamma() const { return gamma_; }

 private:
  double base_lr_;
  std::vector<int64_t> milestones_;
  double gamma_;
};

/// Sets the LR of every parameter group of `opt`.
void apply_lr(torch::optim::Optimizer& opt, double lr);

/// Sets the first beta of every group of an Adam/AdamW optimizer, or the momentum of an
/// SGD/RMSprop one; throws kd::Error for an optimizer without momentum.
void apply_beta1(torch::optim::Optimizer& opt, double beta1);

/// The first beta of Adam/AdamW, or the momentum of SGD/RMSprop, of the first parameter group
/// (what apply_beta1 sets); 0 for other optimizers.
double current_beta1(torch::optim::Optimizer& opt);

}  // namespace kd
