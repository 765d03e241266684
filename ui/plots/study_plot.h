#pragma once
#include <qcustomplot.h>

#include "sweep/layer_study.h"

namespace kd::ui {

/// The layer-choice study's plot (docs/sweeps.md): one point per teacher layer choice (Q,
/// standard, S, I, E, sqrt(I*E), the random sets) at the mean knowledge quality Q of its layers
/// and its best test accuracy, mean over seeds with a +-1 standard deviation bar, named beside
/// it; the Q choice and the standard one stand out. The caption gives Spearman's rho.
class StudyPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit StudyPlot(QWidget* parent = nullptr);

  /// Draws the rows of `report` that have both a mean Q and an accuracy (the rest wait).
  void setReport(const StudyReport& report);
  /// Removes every point and shows `hint`.
  void clearReport(const QString& hint);

  /// Points drawn (choices with a result).
  int pointCount() const { return static_cast<int>(choices_.size()); }
  /// The choice drawn at point `i` ("Q", "standard", "[1,4,6]").
  QString choiceAt(int i) const { return choices_.value(i); }
  /// Point `i`: x the mean Q, y the accuracy (in the order of the report's rows).
  QPointF pointAt(int i) const { return positions_.value(i); }
  /// The graph holding every point (key: mean Q, value: accuracy).
  QCPGraph* points() const { return points_; }
  QCPErrorBars* errorBars() const { return errors_; }
  /// The caption (rho), as shown above the plot.
  QString caption() const;

 private:
  QCPGraph* points_ = nullptr;
  QCPGraph* highlighted_ = nullptr;  ///< the Q and standard choices, drawn larger
  QCPErrorBars* errors_ = nullptr;
  QCPTextElement* caption_ = nullptr;
  QStringList choices_;
  QVector<QPointF> positions_;
};

}  // namespace kd::ui
