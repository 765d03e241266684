#pragma once
#include <QWidget>

#include "jobs/training_update.h"

namespace kd::ui {

class LivePlot;

/// The Training page's live plots: every loss component with the weighted total and the test
/// cross entropy (large, on top), train and test accuracy, and the learning rate. They show the
/// seed being trained: points of a later seed start the curves again.
class TrainingPlots : public QWidget {
  Q_OBJECT

 public:
  explicit TrainingPlots(QWidget* parent = nullptr);

  /// Removes every curve; `hint` is shown in the empty plots (blank while training prepares).
  void clear(bool showHint);
  /// Appends the update's points (one call per series) and queues one replot per plot.
  void add(const TrainingUpdate& update);

  LivePlot* loss() const { return loss_; }
  LivePlot* accuracy() const { return accuracy_; }
  LivePlot* lr() const { return lr_; }

 private:
  LivePlot* loss_ = nullptr;
  LivePlot* accuracy_ = nullptr;
  LivePlot* lr_ = nullptr;
  int shownSeed_ = -1;
};

}  // namespace kd::ui
