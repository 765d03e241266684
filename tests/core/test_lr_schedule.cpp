// Learning-rate schedules (core/distill/lr_schedule.h). Reference values come from PyTorch's own
// OneCycleLR and MultiStepLR, recorded once by scripts/reference_lr_schedules.py.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "distill/lr_schedule.h"
#include "test_util.h"

namespace {

using kdtest::error_of;

/// Relative tolerance against PyTorch: the arithmetic is the same, so agreement is near exact.
constexpr double kRelTol = 1e-12;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool close(double actual, double expected) {
  return std::abs(actual - expected) <= kRelTol * std::abs(expected);
}

nlohmann::json reference() {
  std::ifstream f(kdtest::fixture("lr_schedule_reference.json"));
  return nlohmann::json::parse(f);
}

kd::OneCycleOptions options_of(const nlohmann::json& o) {
  kd::OneCycleOptions options;
  options.pct_start(o.at("pct_start").get<double>()).three_phase(o.at("three_phase").get<bool>());
  options.anneal_strategy(o.at("anneal_strategy").get<std::string>() == "linear"
                              ? kd::AnnealStrategy::kLinear
                              : kd::AnnealStrategy::kCos);
  return options;
}

std::vector<torch::Tensor> one_param() { return {torch::zeros({3}, torch::requires_grad())}; }

}  // namespace

class TestLrSchedule : public QObject {
  Q_OBJECT

 private slots:
  void one_cycle_matches_pytorch() {
    const auto ref = reference();
    QVERIFY(ref.at("one_cycle").size() >= 3);
    for (const auto& c : ref.at("one_cycle")) {
      const kd::OneCycleSchedule s(c.at("max_lr").get<double>(), c.at("total_steps").get<int64_t>(),
                                   options_of(c.at("options")));
      for (const auto& p : c.at("points")) {
        const auto step = p.at("step").get<int64_t>();
        const double lr = s.lr(step), beta1 = s.beta1(step);
        const std::string where = c.at("name").get<std::string>() + " step " + std::to_string(step);
        QVERIFY2(close(lr, p.at("lr").get<double>()),
                 (where + " lr " + std::to_string(lr)).c_str());
        QVERIFY2(close(beta1, p.at("beta1").get<double>()),
                 (where + " beta1 " + std::to_string(beta1)).c_str());
      }
    }
  }

  void one_cycle_shape_by_hand() {
    // 100 steps, pct_start 0.3: warm-up ends at step 29 (0.3 * 100 - 1), where LR peaks.
    const kd::OneCycleSchedule s(0.01, 100);
    QCOMPARE(s.initial_lr(), 0.01 / 25);
    QCOMPARE(s.min_lr(), 0.01 / 25 / 1e4);
    QVERIFY(std::abs(s.lr(0) - 0.0004) < 1e-18);
    QVERIFY(std::abs(s.lr(29) - 0.01) < 1e-18);
    QVERIFY(std::abs(s.beta1(29) - 0.85) < 1e-15);
    QVERIFY(std::abs(s.lr(99) - 4e-8) < 1e-20);
    QVERIFY(std::abs(s.beta1(99) - 0.95) < 1e-15);
    for (int64_t i = 1; i <= 29; ++i) QVERIFY(s.lr(i) > s.lr(i - 1));
    for (int64_t i = 30; i < 100; ++i) QVERIFY(s.lr(i) < s.lr(i - 1));
  }

  void one_cycle_rejects_bad_input() {
    QVERIFY(contains(error_of([] { kd::OneCycleSchedule(0.01, 1); }),
                     "total_steps must be at least 2"));
    QVERIFY(contains(error_of([] { kd::OneCycleSchedule(0.0, 10); }), "peak learning rate"));
    QVERIFY(contains(error_of([] { kd::OneCycleSchedule(NAN, 10); }), "peak learning rate"));
    QVERIFY(contains(
        error_of([] { kd::OneCycleSchedule(0.01, 10, kd::OneCycleOptions().pct_start(1.5)); }),
        "pct_start"));
    QVERIFY(contains(
        error_of([] { kd::OneCycleSchedule(0.01, 10, kd::OneCycleOptions().div_factor(0)); }),
        "div_factor"));
    QVERIFY(contains(
        error_of([] { kd::OneCycleSchedule(0.01, 10, kd::OneCycleOptions().max_momentum(1.0)); }),
        "max_momentum"));
    // PyTorch divides by zero here (warm-up of zero length).
    QVERIFY(contains(
        error_of([] { kd::OneCycleSchedule(0.01, 10, kd::OneCycleOptions().pct_start(0.1)); }),
        "zero length"));
    const kd::OneCycleSchedule no_momentum(0.01, 10, kd::OneCycleOptions().cycle_momentum(false));
    QVERIFY(contains(error_of([&] { no_momentum.beta1(0); }), "cycle_momentum"));
  }

  void one_cycle_step_past_end_throws() {
    const kd::OneCycleSchedule s(0.0075, 37);
    QCOMPARE(error_of([&] { s.lr(36); }), std::string("<no error>"));
    const std::string past = error_of([&] { s.lr(37); });
    QVERIFY2(contains(past, "stepped more times than total_steps") && contains(past, "37"),
             past.c_str());
    QVERIFY(contains(error_of([&] { s.beta1(1000); }), "total_steps"));
    QVERIFY(contains(error_of([&] { s.lr(-1); }), "negative"));
  }

  void multi_step_matches_pytorch() {
    const auto ref = reference();
    QVERIFY(!ref.at("multi_step").empty());
    for (const auto& c : ref.at("multi_step")) {
      const kd::MultiStepSchedule s(c.at("lr").get<double>(),
                                    c.at("milestones").get<std::vector<int64_t>>(),
                                    c.at("gamma").get<double>());
      for (const auto& p : c.at("points")) {
        const auto epoch = p.at("epoch").get<int64_t>();
        QVERIFY2(close(s.lr(epoch), p.at("lr").get<double>()),
                 ("epoch " + std::to_string(epoch) + " lr " + std::to_string(s.lr(epoch))).c_str());
      }
    }
  }

  void multi_step_by_hand_and_errors() {
    const kd::MultiStepSchedule s(0.05, {150, 180, 210});
    QCOMPARE(s.lr(149), 0.05);
    QVERIFY(std::abs(s.lr(150) - 0.005) < 1e-15);
    QVERIFY(std::abs(s.lr(239) - 0.00005) < 1e-17);
    QVERIFY(contains(error_of([] { kd::MultiStepSchedule(0.05, {-1}); }), "negative"));
    QVERIFY(contains(error_of([] { kd::MultiStepSchedule(0.05, {1}, 0.0); }), "gamma"));
    QVERIFY(contains(error_of([] { kd::MultiStepSchedule(-1, {1}); }), "learning rate"));
    QVERIFY(contains(error_of([&] { s.lr(-3); }), "negative"));
  }

  void apply_to_adamw() {
    auto a = torch::zeros({3}, torch::requires_grad()),
         b = torch::zeros({2}, torch::requires_grad());
    std::vector<torch::optim::OptimizerParamGroup> groups{torch::optim::OptimizerParamGroup({a}),
                                                          torch::optim::OptimizerParamGroup({b})};
    torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(1e-3).betas({0.9, 0.999}));
    QCOMPARE(opt.param_groups().size(), size_t(2));
    kd::apply_lr(opt, 0.0042);
    kd::apply_beta1(opt, 0.87);
    for (auto& g : opt.param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(g.options());
      QCOMPARE(o.lr(), 0.0042);
      QCOMPARE(std::get<0>(o.betas()), 0.87);
      QCOMPARE(std::get<1>(o.betas()), 0.999);  // the second beta is left alone
    }
  }

  void apply_to_adam_and_sgd() {
    torch::optim::Adam adam(one_param(), torch::optim::AdamOptions(1e-3));
    kd::apply_lr(adam, 0.02);
    kd::apply_beta1(adam, 0.91);
    auto& ao = static_cast<torch::optim::AdamOptions&>(adam.param_groups()[0].options());
    QCOMPARE(ao.lr(), 0.02);
    QCOMPARE(std::get<0>(ao.betas()), 0.91);

    torch::optim::SGD sgd(one_param(), torch::optim::SGDOptions(0.05).momentum(0.9));
    kd::apply_lr(sgd, 0.005);
    kd::apply_beta1(sgd, 0.8);
    auto& so = static_cast<torch::optim::SGDOptions&>(sgd.param_groups()[0].options());
    QCOMPARE(so.lr(), 0.005);
    QCOMPARE(so.momentum(), 0.8);
  }

  void apply_changes_training() {
    // The LR really reaches the update: with SGD (no momentum) one step moves w by lr * grad.
    auto w = torch::ones({1}, torch::requires_grad());
    torch::optim::SGD sgd({w}, torch::optim::SGDOptions(1.0));
    kd::apply_lr(sgd, 0.25);
    (w * 2).sum().backward();
    sgd.step();
    QCOMPARE(w.item<double>(), 1.0 - 0.25 * 2);
  }

  void apply_beta1_rejects_optimizer_without_momentum() {
    torch::optim::Adagrad adagrad(one_param(), torch::optim::AdagradOptions(0.1));
    QVERIFY(contains(error_of([&] { kd::apply_beta1(adagrad, 0.9); }), "cannot cycle momentum"));
    kd::apply_lr(adagrad, 0.3);  // every built-in optimizer exposes its LR
    QCOMPARE(adagrad.param_groups()[0].options().get_lr(), 0.3);
  }
};

QTEST_APPLESS_MAIN(TestLrSchedule)
#include "test_lr_schedule.moc"
