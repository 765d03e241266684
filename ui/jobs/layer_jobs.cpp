#include "jobs/layer_jobs.h"

#include "analysis/analysis_cache.h"
#include "shell/guarded_call.h"

namespace kd::ui {

LayerJobResult analyseTeacher(std::shared_ptr<LoadedModel> teacher,
                              std::shared_ptr<const Dataset> data,
                              const AnalysisSettings& settings, ProgressSink* progress) {
  LayerJobResult r;
  r.error = runGuarded([&] {
    try {
      const AnalysisCache cache;
      std::string key;
      if (progress != nullptr) progress->progress(0, "looking in the analysis cache");
      try {
        key = AnalysisCache::key(*teacher, *data, settings);
      } catch (const std::exception&) {
        key.clear();  // a model whose content cannot be hashed is simply not cached
      }
      if (!key.empty()) {
        if (auto cached = cache.load(key)) {
          r.analysis = std::make_shared<const AnalysisResult>(std::move(*cached));
          return;
        }
      }
      throw_if_cancelled(progress);
      AnalysisResult result = analyze_layers(*teacher->model, *data, settings, progress);
      if (!key.empty()) cache.store(key, result);  // a read-only cache is not an error
      r.analysis = std::make_shared<const AnalysisResult>(std::move(result));
    } catch (const Cancelled&) {
      r.cancelled = true;
    }
  });
  return r;
}

LayerJobResult computeCka(std::shared_ptr<LoadedModel> teacher, std::shared_ptr<LoadedModel> student,
                          std::shared_ptr<const Dataset> data, const CkaSettings& settings,
                          ProgressSink* progress) {
  LayerJobResult r;
  r.error = runGuarded([&] {
    try {
      r.cka = cka_matrix(*teacher->model, *student->model, *data, settings, progress);
    } catch (const Cancelled&) {
      r.cancelled = true;
    }
  });
  return r;
}

}  // namespace kd::ui
