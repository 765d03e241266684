#include "distill/checkpoint.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include "common/error.h"
#include "common/torch_compat.h"

namespace kd {

namespace {

std::vector<torch::Tensor> all_params(torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> out;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) out.push_back(p);
  }
  return out;
}

std::string shape_text(const torch::Tensor& t) {
  std::string s;
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "x" : "") + std::to_string(t.size(i));
  return s.empty() ? "scalar" : s;
}

}  // namespace

NamedTensors optimizer_state(torch::optim::Optimizer& optimizer) {
  NamedTensors out;
  auto& state = optimizer.state();
  const bool adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
  const bool sgd = dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr;
  if (!adamw && !sgd) throw Error("checkpoints support the AdamW and SGD optimizers only");
  const auto params = all_params(optimizer);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto it = state.find(compat::optimizer_state_key(state, params[i]));
    if (it == state.end()) continue;  // never stepped (no gradient yet)
    const std::string base = "optim." + std::to_string(i) + ".";
    if (adamw) {
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      out.emplace_back(base + "step", torch::tensor(s.step(), torch::kInt64));
      out.emplace_back(base + "exp_avg", s.exp_avg());
      out.emplace_back(base + "exp_avg_sq", s.exp_avg_sq());
      if (s.max_exp_avg_sq().defined()) out.emplace_back(base + "max_exp_avg_sq", s.max_exp_avg_sq());
    } else {
      auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
      if (s.momentum_buffer().defined()) out.emplace_back(base + "momentum_buffer", s.momentum_buffer());
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::map<std::string, torch::Tensor>& tensors) {
  auto& state = optimizer.state();
  state.clear();
  const bool adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
  const auto params = all_params(optimizer);
  const auto get = [&](const std::string& name, const torch::Tensor& like) -> torch::Tensor {
    const auto it = tensors.find(name);
    if (it == tensors.end()) return {};
    if (like.defined() && it->second.sizes() != like.sizes()) {
      throw Error("checkpoint: optimizer state " + name + " has shape " + shape_text(it->second) +
                  ", the parameter " + shape_text(like));
    }
    return it->second.to(like.device(), like.scalar_type()).clone();
  };
  size_t restored = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string base = "optim." + std::to_string(i) + ".";
    if (adamw) {
      const auto step_it = tensors.find(base + "step");
      if (step_it == tensors.end()) continue;
      if (step_it->second.numel() != 1 || step_it->second.is_floating_point()) {
        throw Error("checkpoint: optimizer state " + base + "step is not a single whole number");
      }
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(step_it->second.item<int64_t>());
      s->exp_avg(get(base + "exp_avg", params[i]));
      s->exp_avg_sq(get(base + "exp_avg_sq", params[i]));
      if (!s->exp_avg().defined() || !s->exp_avg_sq().defined()) {
        throw Error("checkpoint: optimizer state of parameter " + std::to_string(i) + " is incomplete");
      }
      s->max_exp_avg_sq(get(base + "max_exp_avg_sq", params[i]));
      state[compat::optimizer_state_key(state, params[i])] = std::move(s);
    } else {
      torch::Tensor buf = get(base + "momentum_buffer", params[i]);
      if (!buf.defined()) continue;
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(buf);
      state[compat::optimizer_state_key(state, params[i])] = std::move(s);
    }
    ++restored;
  }
  size_t stored = 0;
  for (const auto& [name, t] : tensors) {
    if (name.rfind("optim.", 0) == 0 && name.size() > 5 &&
        (name.find(".step") != std::string::npos || name.find(".momentum_buffer") != std::string::npos)) {
      ++stored;
    }
  }
  if (stored != restored) {
    throw Error("checkpoint: it holds optimizer state for " + std::to_string(stored) +
                " parameters, but only " + std::to_string(restored) + " match this model");
  }
}

void restore_tensors(const NamedTensors& targets, const std::map<std::string, torch::Tensor>& stored,
                     const std::string& prefix, const std::string& what) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> problems;
  for (const auto& [name, target] : targets) {
    const auto it = stored.find(prefix + name);
    if (it == stored.end()) {
      problems.push_back("missing " + prefix + name);
    } else if (it->second.sizes() != target.sizes()) {
      problems.push_back(prefix + name + " is " + shape_text(it->second) + ", expected " +
                         shape_text(target));
    } else {
      target.copy_(it->second.to(target.device(), target.scalar_type()));
    }
  }
  if (!problems.empty()) {
    std::string msg = "checkpoint does not fit " + what + ":";
    for (size_t i = 0; i < problems.size() && i < 5; ++i) msg += (i ? "; " : " ") + problems[i];
    if (problems.size() > 5) msg += "; and " + std::to_string(problems.size() - 5) + " more";
    throw Error(msg);
  }
}

}  // namespace kd
