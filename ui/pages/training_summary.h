#pragma once
// Texts of the Training page: what Start will run, durations and accuracies.
#include <QString>
#include <vector>

#include "experiment/experiment_config.h"

namespace kd::ui {

class Session;

/// True when `method` distils at chosen layers (so the layer choice matters).
bool methodUsesLayers(Method method);

/// The teacher layers a Q-ranked method ("ours" and its ablations) should train at when the user
/// chose none: the top `config.num_layers` by Q of the session's layer analysis, in depth order.
/// Empty when the method does not rank by Q or the session has no analysis (the run then
/// analyses the teacher itself).
std::vector<int> qualityLayersFromAnalysis(const ExperimentConfig& config, const Session& session);

/// "m:ss" or "h:mm:ss"; "?" when unknown.
QString formatDuration(double seconds);

/// "85.12 %", or "85.12 ± 0.40 %" over several seeds.
QString accuracyText(double mean, double std, int seeds);

/// Rich text: the method, teacher → student, the layers (explicit, by Q or standard) and the
/// data subset, epochs and seeds of `config`; the layer lists shown are the session's.
QString describeExperiment(const ExperimentConfig& config, const Session& session,
                           bool teacherMode);

}  // namespace kd::ui
