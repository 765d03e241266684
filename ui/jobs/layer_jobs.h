#pragma once
// The Layers page's background jobs, as plain functions run on a worker thread.
#include <QString>
#include <memory>
#include <vector>

#include "analysis/cka_matrix.h"
#include "analysis/layer_analyzer.h"
#include "models/model_loader.h"

namespace kd::ui {

/// What a Layers page job hands back to the GUI thread: small CPU values only.
struct LayerJobResult {
  std::shared_ptr<const AnalysisResult> analysis;  ///< set by analyseTeacher on success
  std::vector<std::vector<double>> cka;            ///< set by computeCka on success
  QString error;                                   ///< the failure, empty on success
  bool cancelled = false;                          ///< stopped through the progress sink
};

/// The teacher's layer analysis, read from the AnalysisCache when it holds this key and stored
/// there afterwards (a cache that cannot be written is not an error). Never throws.
LayerJobResult analyseTeacher(std::shared_ptr<LoadedModel> teacher,
                              std::shared_ptr<const Dataset> data,
                              const AnalysisSettings& settings, ProgressSink* progress);

/// The linear-CKA map between every teacher and every student layer. Never throws.
LayerJobResult computeCka(std::shared_ptr<LoadedModel> teacher, std::shared_ptr<LoadedModel> student,
                          std::shared_ptr<const Dataset> data, const CkaSettings& settings,
                          ProgressSink* progress);

}  // namespace kd::ui
