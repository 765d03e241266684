#include "analysis/analysis_cache.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "io/atomic_file.h"
#include "io/content_hash.h"

namespace kd {

namespace {

/// Bump when the analysis code changes its numbers, so old cache entries are not used.
constexpr const char* kAnalysisVersion = "analysis-1";

std::string default_cache_dir() {
  if (const char* d = std::getenv("KDSTUDIO_CACHE_DIR"); d != nullptr && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x) return std::string(x) + "/kdstudio";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h) return std::string(h) + "/.cache/kdstudio";
  return std::filesystem::temp_directory_path().string() + "/kdstudio-cache";
}

}  // namespace

AnalysisCache::AnalysisCache(std::string dir)
    : folder_((dir.empty() ? default_cache_dir() : dir) + "/analysis") {}

std::string AnalysisCache::key(const LoadedModel& model, const Dataset& data,
                               const AnalysisSettings& s) {
  ContentHash h;
  h.add(std::string(kAnalysisVersion));
  h.add(model.model->architecture());
  if (model.origin == ModelOrigin::kZoo) {
    for (const auto& [name, t] : model.model->named_state()) h.add(name).add(t);
  } else {
    h.add_file(model.source);
  }
  h.add(data.train.images).add(data.train.labels);
  for (const auto& c : data.class_names) h.add(c);
  h.add(std::to_string(s.per_class_a) + "/" + std::to_string(s.per_class_b) + "/" +
        std::to_string(s.seed) + "/" + std::to_string(s.top_k) + "/" +
        std::to_string(s.geometry_samples));
  return h.hex();
}

std::optional<AnalysisResult> AnalysisCache::load(const std::string& key) const {
  std::ifstream f(folder_ + "/" + key + ".json");
  if (!f) return std::nullopt;
  std::stringstream text;
  text << f.rdbuf();
  try {
    AnalysisResult r = analysis_from_json(text.str());
    r.from_cache = true;
    return r;
  } catch (const Error&) {
    return std::nullopt;  // a damaged entry is recomputed and overwritten
  }
}

bool AnalysisCache::store(const std::string& key, const AnalysisResult& result) const {
  try {
    std::error_code ec;
    std::filesystem::create_directories(folder_, ec);
    AtomicFile f(folder_ + "/" + key + ".json");
    const std::string text = analysis_to_json(result);
    f.write(text.data(), text.size());
    f.commit();
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace kd
