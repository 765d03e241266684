#pragma once
#include <qcustomplot.h>

#include <QVector>
#include <array>

#include "analysis/layer_analyzer.h"

namespace kd::ui {

/// The per-layer curves of a teacher analysis: separation S, information I, efficiency E and
/// knowledge quality Q (method.md section 2) over the generalized layer index. Each curve is
/// divided by its largest absolute value over the layers so the four share one axis (the table
/// beside it holds the raw numbers). The recommended layers are starred on the Q curve, the
/// selected layers shaded; a click near layer x emits layerClicked(x).
class QualityPlot : public QCustomPlot {
  Q_OBJECT

 public:
  /// The four curves, in the order of graph(0..3).
  enum Series { kSeparation, kInformation, kEfficiency, kQuality, kSeriesCount };

  explicit QualityPlot(QWidget* parent = nullptr);

  /// Draws the curves of `result` (not stale, clickable).
  void setAnalysis(const AnalysisResult& result);
  /// Removes every curve and shows `hint` in the middle of the plot.
  void clearAnalysis(const QString& hint);
  /// Keeps the curves, faded and not clickable, with `hint` over them (the teacher or the data
  /// changed since they were computed).
  void setStale(const QString& hint);
  /// True while the curves shown are out of date (or there are none).
  bool isStale() const { return stale_; }
  /// Shades these layers.
  void setSelectedLayers(const QVector<int>& layers);

  /// Number of layers drawn (0 when empty).
  int layerCount() const { return layerCount_; }
  /// The graph of a series: one point per layer, value = raw / scale(series).
  QCPGraph* curve(Series series) const { return curves_[series]; }
  /// The star markers on the Q curve at the recommended layers.
  QCPGraph* recommendedMarks() const { return recommended_; }
  /// The divisor used for a series (its largest absolute value; 1 when all are 0).
  double scale(Series series) const { return scales_[series]; }
  /// The selected-layer bands (one bar per selected layer).
  QCPBars* selectionBands() const { return bands_; }
  /// A widget pixel on layer `layer` inside the plot area (for clicks in tests).
  QPoint layerPixel(int layer) const;
  /// "S (separation)" etc.
  static QString seriesName(Series series);

 signals:
  /// The user clicked on the plot near generalized layer `layer`.
  void layerClicked(int layer);

 private:
  void onRelease(QMouseEvent* event);
  void setHint(const QString& hint);
  void styleCurves(bool faded);

  std::array<QCPGraph*, kSeriesCount> curves_{};
  std::array<double, kSeriesCount> scales_{1, 1, 1, 1};
  QCPGraph* recommended_ = nullptr;
  QCPBars* bands_ = nullptr;
  QCPItemText* hint_ = nullptr;
  QStringList layerText_;  // per layer, for the tooltip
  QPoint pressPos_;
  int layerCount_ = 0;
  bool stale_ = true;
};

}  // namespace kd::ui
