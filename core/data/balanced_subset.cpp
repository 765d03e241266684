#include "data/balanced_subset.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <string>

#include "common/error.h"
#include "data/seeded_random.h"

namespace kd {
namespace {

/// Sample indices of each class, ascending.
std::vector<std::vector<int64_t>> indices_by_class(const torch::Tensor& labels,
                                                   int64_t num_classes) {
  const torch::Tensor values = labels.to(torch::kInt64).contiguous();
  const int64_t* data = values.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < values.numel(); ++i) {
    if (data[i] < 0 || data[i] >= num_classes) {
      throw Error("balanced subset: label " + std::to_string(data[i]) + " at position " +
                  std::to_string(i) + " is not in [0, " + std::to_string(num_classes) + ")");
    }
    groups[static_cast<size_t>(data[i])].push_back(i);
  }
  return groups;
}

}  // namespace

std::vector<int64_t> balanced_subset(const torch::Tensor& labels, int64_t num_classes,
                                     int64_t per_class, uint64_t seed) {
  TORCH_CHECK(labels.dim() == 1, "balanced_subset: labels must be 1-D");
  if (num_classes < 1) throw Error("balanced subset: the number of classes must be positive");
  if (per_class < 1) throw Error("balanced subset: samples per class must be at least 1");
  std::vector<int64_t> subset;
  auto groups = indices_by_class(labels, num_classes);
  for (size_t c = 0; c < groups.size(); ++c) {
    auto& group = groups[c];
    const size_t take = std::min(group.size(), static_cast<size_t>(per_class));
    SeededRandom random(mix_seed(seed, c));
    random.choose_front(group, take);
    std::sort(group.begin(), group.begin() + static_cast<std::ptrdiff_t>(take));
    subset.insert(subset.end(), group.begin(), group.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return subset;
}

}  // namespace kd
