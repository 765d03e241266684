#pragma once
// The "standard" layer choice baselines distil between (method.md section 5).
#include <vector>

#include "models/layered_model.h"

namespace kd {

/// The standard layers of `model`: the paper's lists for its architectures (ResNet34
/// [3,7,13,16], VGG19 [3,7,11,15], ViT-B [2,4,8,10]; students ResNet9 [1,2,3,4], MobileNetV2
/// [3,6,13,17], VGG11 [1,3,5,7], ViT-ETT [1,3,5,7]) when k is 4 and the layer count matches;
/// otherwise the last layer of each spatial resolution before the head, the deepest k of them
/// (which reproduces the CNN lists above), or k evenly spaced layers for token models. Throws
/// kd::Error when the model has fewer than k backbone layers.
std::vector<int> standard_layers(const LayeredModel& model, int k);

}  // namespace kd
