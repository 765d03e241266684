#include "deploy/deploy_info.h"

#include <nlohmann/json.hpp>

#include <cstdio>

#include "common/error.h"
#include "data/transforms.h"

namespace kd {

namespace {

using json = nlohmann::json;

std::string floats_json(const std::vector<float>& v) {
  std::string t = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v[i]));
    t += (i ? ", " : "") + std::string(buf);
  }
  return t + "]";
}

const std::string& entry(const std::map<std::string, std::string>& m, const std::string& key,
                         const std::string& source) {
  const auto it = m.find(key);
  if (it == m.end()) throw Error(source + ": its metadata has no '" + key + "' entry");
  return it->second;
}

std::string optional_entry(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

std::map<std::string, std::string> DeployInfo::to_metadata() const {
  std::map<std::string, std::string> m;
  m["kd.input"] = std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
  m["kd.mean"] = floats_json(mean);
  m["kd.std"] = floats_json(std);
  m["kd.class_names"] = json(class_names).dump();
  m["kd.input_transform"] = input_transform;
  if (!architecture.empty()) m["kd.architecture"] = architecture;
  if (!dataset.empty()) m["kd.dataset"] = dataset;
  if (!experiment.empty()) m["kd.experiment"] = experiment;
  if (!method.empty()) m["kd.method"] = method;
  if (test_accuracy) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", *test_accuracy);
    m["kd.test_accuracy"] = buf;
  }
  return m;
}

bool DeployInfo::present_in(const std::map<std::string, std::string>& metadata) {
  for (const char* key : {"kd.input", "kd.mean", "kd.std", "kd.class_names"}) {
    if (!metadata.count(key)) return false;
  }
  return true;
}

DeployInfo DeployInfo::from_metadata(const std::map<std::string, std::string>& m, const std::string& source) {
  DeployInfo d;
  const std::string& input = entry(m, "kd.input", source);
  long long c = 0, h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(input.c_str(), "%lldx%lldx%lld%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1 ||
      c > 4 || h > 65536 || w > 65536) {
    throw Error(source + ": its 'kd.input' entry '" + input + "' is not CHANNELSxHEIGHTxWIDTH (e.g. 1x28x28)");
  }
  d.channels = c;
  d.height = h;
  d.width = w;
  auto floats = [&](const std::string& key) {
    const std::string& text = entry(m, key, source);
    const json j = json::parse(text, nullptr, false);
    std::vector<float> v;
    if (j.is_array()) {
      for (const auto& x : j) {
        if (!x.is_number()) break;
        v.push_back(x.get<float>());
      }
    }
    if (!j.is_array() || v.size() != j.size() || static_cast<int64_t>(v.size()) != d.channels) {
      throw Error(source + ": its '" + key + "' entry is not a list of " + std::to_string(d.channels) +
                  " numbers (one per input channel): " + text.substr(0, 80));
    }
    return v;
  };
  d.mean = floats("kd.mean");
  d.std = floats("kd.std");
  const std::string& names = entry(m, "kd.class_names", source);
  const json j = json::parse(names, nullptr, false);
  if (!j.is_array() || j.empty()) throw Error(source + ": its 'kd.class_names' entry is not a list of names");
  for (const auto& x : j) {
    if (!x.is_string()) throw Error(source + ": its 'kd.class_names' entry is not a list of names");
    d.class_names.push_back(x.get<std::string>());
  }
  d.input_transform = optional_entry(m, "kd.input_transform");
  if (d.input_transform.empty()) d.input_transform = "standardize";
  if (d.input_transform != "standardize" && d.input_transform != "baked") {
    throw Error(source + ": its 'kd.input_transform' entry '" + d.input_transform +
                "' is neither 'standardize' nor 'baked'");
  }
  d.architecture = optional_entry(m, "kd.architecture");
  d.dataset = optional_entry(m, "kd.dataset");
  d.experiment = optional_entry(m, "kd.experiment");
  d.method = optional_entry(m, "kd.method");
  const std::string acc = optional_entry(m, "kd.test_accuracy");
  if (!acc.empty()) {
    try {
      d.test_accuracy = std::stod(acc);
    } catch (const std::exception&) {
      throw Error(source + ": its 'kd.test_accuracy' entry '" + acc + "' is not a number");
    }
  }
  return d;
}

ChannelStats DeployInfo::stats() const { return ChannelStats{mean, std}; }

}  // namespace kd
