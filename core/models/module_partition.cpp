#include "models/module_partition.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace kd {

namespace {

// Prefix of the atoms TorchScript adds to keep re-compiled classes apart.
constexpr std::string_view kMangleMarker = "___torch_mangle_";

// Nonlinearities that end a generalized layer (method.md section 1).
constexpr std::array<std::string_view, 5> kNonlinearities = {"ReLU", "LeakyReLU", "ReLU6", "GELU",
                                                             "SiLU"};
// Blocks that are one generalized layer each, whatever is inside.
constexpr std::array<std::string_view, 6> kWholeBlocks = {
    "BasicBlock",   "Bottleneck", "InvertedResidual", "TransformerEncoderLayer",
    "EncoderBlock", "Block"};
// Containers whose forward() is (at most) the chain of their children.
constexpr std::array<std::string_view, 3> kContainers = {"Sequential", "ModuleList", "ModuleDict"};

template <size_t N>
bool contains(const std::array<std::string_view, N>& names, const std::string& type) {
  return std::find(names.begin(), names.end(), type) != names.end();
}

// Removes "___torch_mangle_<digits>" (and a '.' or '_' joining it to the rest).
std::string strip_mangling(std::string name) {
  for (size_t at = name.find(kMangleMarker); at != std::string::npos;
       at = name.find(kMangleMarker)) {
    size_t end = at + kMangleMarker.size();
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    if (end < name.size() && name[end] == '.') ++end;
    name.erase(at, end - at);
  }
  return name;
}

void close_layer(ChainPartition& p, size_t& begin, size_t end, InsertedReshape reshape) {
  p.layers.push_back(LayerSpan{begin, end, reshape});
  begin = end;
}

}  // namespace

const char* partition_mode_name(PartitionMode mode) {
  switch (mode) {
    case PartitionMode::kGeneralized:
      return "generalized";
    case PartitionMode::kTopLevel:
      return "top_level";
    case PartitionMode::kLogitsOnly:
      return "logits_only";
  }
  return "unknown";
}

std::string plain_type_name(const std::string& qualified_name) {
  std::string name = strip_mangling(qualified_name);
  while (!name.empty() && name.back() == '.') name.pop_back();
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

bool is_layer_nonlinearity(const std::string& type) { return contains(kNonlinearities, type); }
bool is_whole_block(const std::string& type) { return contains(kWholeBlocks, type); }
bool is_container(const std::string& type) { return contains(kContainers, type); }

ChainPartition partition_generalized(const std::vector<ChainModule>& chain) {
  ChainPartition p;
  size_t begin = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].reshape_before != InsertedReshape::kNone) {
      close_layer(p, begin, i, chain[i].reshape_before);
    }
    const std::string& type = chain[i].type;
    if (is_layer_nonlinearity(type) || is_whole_block(type) || type == "Flatten") {
      close_layer(p, begin, i + 1, InsertedReshape::kNone);
    }
  }
  p.tail_begin = begin;
  return p;
}

ChainPartition partition_top_level(const std::vector<ChainModule>& chain) {
  ChainPartition p;
  size_t begin = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].reshape_before != InsertedReshape::kNone) {
      if (!p.layers.empty() && p.layers.back().end == i) {
        p.layers.back().reshape_after = chain[i].reshape_before;
      } else {
        close_layer(p, begin, i, chain[i].reshape_before);
      }
    }
    if (i + 1 < chain.size()) close_layer(p, begin, i + 1, InsertedReshape::kNone);
  }
  p.tail_begin = begin;
  return p;
}

std::string layer_kind(const std::vector<ChainModule>& chain, const LayerSpan& span) {
  std::string kind;
  for (size_t i = span.begin; i < span.end; ++i) {
    if (!kind.empty()) kind += "+";
    kind += chain[i].type;
  }
  if (span.reshape_after != InsertedReshape::kNone) {
    if (!kind.empty()) kind += "+";
    kind += span.reshape_after == InsertedReshape::kFlatten ? "Flatten (inserted)"
                                                            : "GlobalAvgPool+Flatten (inserted)";
  }
  return kind;
}

std::string layer_name(const std::vector<ChainModule>& chain, const LayerSpan& span) {
  if (span.end > span.begin) return chain[span.end - 1].path;
  return span.end < chain.size() ? "flatten before " + chain[span.end].path : "flatten";
}

int first_head_layer(const std::vector<ChainModule>& chain, const ChainPartition& partition) {
  const int n = static_cast<int>(partition.layers.size());
  for (int l = 0; l < n; ++l) {
    const LayerSpan& span = partition.layers[static_cast<size_t>(l)];
    for (size_t i = span.begin; i < span.end; ++i) {
      if (chain[i].contains_linear) return l;
    }
  }
  return n;
}

}  // namespace kd
