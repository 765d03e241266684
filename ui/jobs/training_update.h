#pragma once
// Plain values a training run sends from its worker thread to the GUI (no tensors).
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "tracking/geometry_log.h"

namespace kd::ui {

/// What arrived from a run since the GUI last looked: points to append to the plots and the
/// latest progress. x is the fractional epoch (epoch + batch / batches).
struct TrainingUpdate {
  /// One progress report of the trainer (every log_every steps and at the end of each epoch).
  struct Step {
    int seedIndex = 0;
    double x = 0;
    double loss = 0;                                 ///< weighted total
    std::vector<std::pair<QString, double>> losses;  ///< unweighted components by name
    double trainAcc = 0;                             ///< percent
    double lr = 0;
  };
  /// The end of an epoch, after evaluation.
  struct Epoch {
    int seedIndex = 0;
    double x = 0;
    double testAcc = 0;  ///< percent
    double testLoss = 0;
  };
  /// Where the run stands.
  struct Progress {
    int seedIndex = 0, seedCount = 1;
    int epoch = 0, epochs = 1;         ///< epoch 0-based
    int64_t step = 0, totalSteps = 1;  ///< of the current seed
    double imagesPerSecond = 0;
    double etaSeconds = 0;  ///< of the current seed
  };

  std::vector<Step> steps;
  std::vector<Epoch> epochs;
  QStringList notes;
  std::optional<Progress> progress;
  std::optional<std::pair<QString, double>> stage;  ///< latest preparation stage and fraction
  /// Geometry tracking: a new probe (a new seed; the snapshots before it are superseded) and
  /// the snapshots taken since.
  std::optional<GeometryProbe> geometryProbe;
  std::vector<GeometrySnapshot> geometry;

  bool empty() const {
    return steps.empty() && epochs.empty() && notes.isEmpty() && !progress && !stage &&
           !geometryProbe && geometry.empty();
  }
};

/// How a run ended.
struct TrainingOutcome {
  QString runDir;  ///< empty when it ended before its folder was made
  bool complete = false;
  bool stopped = false;  ///< by the user
  QString error;         ///< what went wrong, for people; empty otherwise
  QString modelPath;     ///< the first seed's final model file, when complete
  int seeds = 0;         ///< seeds finished
  double lastAccMean = 0, lastAccStd = 0, bestAccMean = 0, bestAccStd = 0;
};

}  // namespace kd::ui

Q_DECLARE_METATYPE(kd::ui::TrainingOutcome)
