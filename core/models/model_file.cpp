#include "models/model_file.h"

#include <set>

#include "common/error.h"
#include "common/version.h"
#include "io/safetensors.h"
#include "models/zoo/zoo_builder.h"

namespace kd {

namespace {

std::string shape_text(c10::IntArrayRef s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

std::string list_some(const std::vector<std::string>& names) {
  std::string t;
  for (size_t i = 0; i < names.size() && i < 5; ++i) t += (i ? ", " : "") + names[i];
  if (names.size() > 5) t += ", ... (" + std::to_string(names.size()) + " in all)";
  return t;
}

}  // namespace

void save_zoo_model(zoo::ZooModel& model, const std::string& path,
                    const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = kModelFileFormat;
  meta["format_version"] = "1";
  meta["architecture"] = model.architecture();
  meta["kdstudio_version"] = version();
  write_safetensors(path, model.named_state(), meta);
}

LoadedZooModel load_zoo_model(const std::string& path) {
  SafetensorsContent content = read_safetensors(path);
  const auto fmt = content.metadata.find("format");
  const auto arch = content.metadata.find("architecture");
  if (fmt == content.metadata.end() || fmt->second != kModelFileFormat ||
      arch == content.metadata.end()) {
    throw Error(path + " is a safetensors file but not a KD Studio model file (no '" +
                std::string(kModelFileFormat) +
                "' format or architecture in its metadata); to load plain weights, build the "
                "zoo model and import them");
  }
  LoadedZooModel out;
  try {
    const zoo::ZooSpec spec = zoo::parse_zoo_spec(arch->second);
    // The architecture comes from the file: check that the file can hold its weights before
    // building it, so that a few forged bytes cannot make us allocate gigabytes.
    int64_t stored = 0;
    for (const auto& [name, t] : content.tensors) stored += t.numel();
    const int64_t needed = zoo::min_parameter_count(spec);
    if (stored < needed) {
      throw Error("it has at least " + std::to_string(needed) + " parameters, but the file holds " +
                  std::to_string(stored) + " values");
    }
    out.model = zoo::create_zoo_model(spec);
  } catch (const Error& e) {
    throw Error(path + ": its architecture '" + arch->second + "' cannot be built: " + e.what());
  }
  std::map<std::string, torch::Tensor> stored(content.tensors.begin(), content.tensors.end());
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : out.model->named_state()) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (it->second.sizes() != target.sizes()) {
      mismatched.push_back(name + " " + shape_text(it->second.sizes()) + " vs " +
                           shape_text(target.sizes()));
      continue;
    }
    target.copy_(it->second.to(target.scalar_type()));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : stored) {
    if (!used.count(name)) unexpected.push_back(name);
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::string msg = path + " does not match its architecture " + arch->second + ":";
    if (!missing.empty()) msg += " missing tensors: " + list_some(missing) + ";";
    if (!mismatched.empty()) msg += " wrong shapes (file vs model): " + list_some(mismatched) + ";";
    if (!unexpected.empty()) msg += " unexpected tensors: " + list_some(unexpected) + ";";
    throw Error(msg);
  }
  for (const auto& [name, t] : out.model->named_state()) {
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) {
      throw Error(path + ": tensor '" + name + "' contains NaN or Inf values");
    }
  }
  out.metadata = std::move(content.metadata);
  return out;
}

}  // namespace kd
