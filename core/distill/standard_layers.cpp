#include "distill/standard_layers.h"

#include <algorithm>
#include <map>
#include <string>

#include "common/error.h"

namespace kd {

namespace {

struct PaperChoice {
  int num_layers;          // the architecture's generalized layer count at CIFAR size
  std::vector<int> layers;
};

// method.md section 5, keyed by zoo architecture name.
const std::map<std::string, PaperChoice>& paper_choices() {
  static const std::map<std::string, PaperChoice> table = {
      {"resnet34", {18, {3, 7, 13, 16}}}, {"vgg19_bn", {19, {3, 7, 11, 15}}},
      {"vit_b", {13, {2, 4, 8, 10}}},     {"resnet9", {6, {1, 2, 3, 4}}},
      {"mobilenetv2", {20, {3, 6, 13, 17}}}, {"vgg11_bn", {11, {1, 3, 5, 7}}},
      {"vit_ett", {9, {1, 3, 5, 7}}},
  };
  return table;
}

std::string family(const std::string& architecture) {
  return architecture.substr(0, architecture.find(':'));
}

std::vector<int64_t> spatial(const LayerInfo& layer) {
  if (layer.shape.size() < 2) return {};
  return {layer.shape.begin() + 1, layer.shape.end()};
}

}  // namespace

std::vector<int> standard_layers(const LayeredModel& model, int k) {
  const auto& layers = model.layers();
  const int backbone = std::min(model.head_start(), model.num_layers());
  if (k < 1 || k > backbone) {
    throw Error(model.architecture() + " has " + std::to_string(backbone) +
                " layers before its head; cannot choose " + std::to_string(k) + " of them");
  }
  const auto it = paper_choices().find(family(model.architecture()));
  if (k == 4 && it != paper_choices().end() && it->second.num_layers == model.num_layers()) {
    return it->second.layers;
  }
  // Token models ((T, D) outputs throughout): k evenly spaced blocks.
  const bool tokens = std::all_of(layers.begin(), layers.begin() + backbone,
                                  [](const LayerInfo& l) { return l.shape.size() == 2; });
  std::vector<int> ends;
  if (!tokens) {
    // The last layer of each run of equal spatial size, skipping flat (C) outputs.
    for (int i = 0; i < backbone; ++i) {
      if (layers[i].shape.size() < 3) continue;
      const bool last_of_run = i + 1 >= backbone || layers[i + 1].shape.size() < 3 ||
                               spatial(layers[i + 1]) != spatial(layers[i]);
      if (last_of_run) ends.push_back(i);
    }
  }
  if (static_cast<int>(ends.size()) >= k) return {ends.end() - k, ends.end()};
  // Too few resolution changes (or tokens): k evenly spaced layers (distinct when backbone >= k).
  std::vector<int> even;
  for (int j = 1; j <= k; ++j) even.push_back(j * backbone / (k + 1));
  return even;
}

}  // namespace kd
