#pragma once
#include <QTableWidget>
#include <QVector>

#include "analysis/layer_analyzer.h"

namespace kd::ui {

/// The raw numbers of a teacher analysis, one row per generalized layer: a "use" check box,
/// the layer (starred when recommended), its output shape, S, I, E, Q, TwoNN ID, PCA-ID and NCC
/// accuracy. Ticking a row's box emits layerToggled.
class LayerScoresTable : public QTableWidget {
  Q_OBJECT

 public:
  enum Column { kUse, kLayer, kShape, kS, kI, kE, kQ, kTwoNN, kPcaId, kNcc, kColumnCount };

  explicit LayerScoresTable(QWidget* parent = nullptr);

  /// Fills the rows from `result` (enables the table).
  void setAnalysis(const AnalysisResult& result);
  /// Removes every row.
  void clearAnalysis();
  /// Ticks the chosen layers' boxes (without emitting layerToggled).
  void setSelectedLayers(const QVector<int>& layers);

 signals:
  /// The user ticked or unticked layer `layer`.
  void layerToggled(int layer);

 private:
  bool updating_ = false;
};

}  // namespace kd::ui
