// Training checkpoints (core/distill/checkpoint.h): a safetensors file whose "student.*" tensors
// are restored into a model and whose "optim.*" tensors into an AdamW optimizer.
#include <torch/torch.h>

#include "common/error.h"
#include "distill/checkpoint.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static torch::nn::Linear model = [] {
    torch::set_num_threads(1);
    return torch::nn::Linear(3, 2);
  }();
  try {
    const kd::SafetensorsContent content = kd::parse_safetensors(data, size, "checkpoint");
    const std::map<std::string, torch::Tensor> stored(content.tensors.begin(), content.tensors.end());
    kd::NamedTensors targets;
    for (const auto& p : model->named_parameters()) targets.emplace_back(p.key(), p.value());
    kd::restore_tensors(targets, stored, "student.", "the student");
    torch::optim::AdamW optimizer(model->parameters());
    kd::load_optimizer_state(optimizer, stored);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    kd::load_optimizer_state(sgd, stored);
  } catch (const kd::Error&) {
  }
  return 0;
}
