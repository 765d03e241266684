#pragma once
#include <optional>
#include <string>

#include "analysis/layer_analyzer.h"
#include "models/model_loader.h"

namespace kd {

/// On-disk cache of layer analyses, one JSON file per key, so re-opening an analysis is instant.
/// Keys hash the model's content (its file's bytes, or a zoo model's weights), the dataset's
/// content (training images and labels) and the settings that change the numbers; a changed
/// model file therefore never gets stale numbers.
class AnalysisCache {
 public:
  /// Uses `dir`, or the default: $KDSTUDIO_CACHE_DIR, else $XDG_CACHE_HOME/kdstudio, else
  /// ~/.cache/kdstudio; analyses go to its analysis/ subfolder.
  explicit AnalysisCache(std::string dir = {});

  /// The cache key of an analysis.
  static std::string key(const LoadedModel& model, const Dataset& data,
                         const AnalysisSettings& settings);
  /// The cached result for a key, marked from_cache; nullopt when absent or unreadable.
  std::optional<AnalysisResult> load(const std::string& key) const;
  /// Stores a result (atomically). A cache that cannot be written is not an error: returns false.
  bool store(const std::string& key, const AnalysisResult& result) const;
  /// The folder the files go to.
  const std::string& folder() const { return folder_; }

 private:
  std::string folder_;
};

}  // namespace kd
