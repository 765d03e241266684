#pragma once
#include <qcustomplot.h>

#include "analysis/layer_analyzer.h"
#include "plots/quality_plot.h"

namespace kd::ui {

/// A teacher's and a trained student's layers side by side over relative depth (layer index /
/// (layers - 1), so models of different depths share the axis): one of S, I, E or Q, raw values,
/// teacher and student in two colours, so that the gap at each depth shows.
class DepthProfilePlot : public QCustomPlot {
  Q_OBJECT
 public:
  explicit DepthProfilePlot(QWidget* parent = nullptr);
  /// Draws `series` of both analyses (either may be null: its curve stays empty); the labels name
  /// the models in the legend.
  void setProfiles(const AnalysisResult* teacher, const AnalysisResult* student,
                   QualityPlot::Series series, const QString& teacherLabel,
                   const QString& studentLabel);
  /// Shows `hint` in the middle (e.g. what to do to get a student curve); empty hides it.
  void setHint(const QString& hint);
  QCPGraph* teacherCurve() const { return teacher_; }
  QCPGraph* studentCurve() const { return student_; }

 private:
  QCPGraph* teacher_ = nullptr;
  QCPGraph* student_ = nullptr;
  QCPItemText* hint_ = nullptr;
};

/// Relative depth of layer `index` of `count`: index / (count - 1), 0 for a single layer.
double relativeDepth(int index, int count);

}  // namespace kd::ui
