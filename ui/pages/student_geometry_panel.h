#pragma once
#include <QStringList>
#include <QWidget>
#include <vector>

#include "tracking/geometry_log.h"

class QComboBox;
class QLabel;
class QSlider;

namespace kd::ui {

class LivePlot;
class ScatterPlot;

/// How a training student takes on its teacher's geometry (geometry tracking,
/// docs/geometry-tracking.md): per distilled pair, linear CKA to the teacher layer and the student
/// layer's Q against the teacher layer's Q (dashed) over the epochs; and for one chosen pair the
/// probe sample of the teacher layer (rings) and of the student layer through its projector
/// (dots), on the teacher layer's top two principal axes, coloured by class. A slider scrubs
/// through the snapshots; while a run is live the view follows the newest unless the user moved
/// the slider back. Fed live from the Training page, or with a finished run's geometry.jsonl.
class StudentGeometryPanel : public QWidget {
  Q_OBJECT
 public:
  explicit StudentGeometryPanel(QWidget* parent = nullptr);

  void setClassNames(const QStringList& names);
  /// Starts a new probe (a new run or seed): removes every snapshot.
  void setProbe(const GeometryProbe& probe);
  void addSnapshot(const GeometrySnapshot& snapshot);
  /// A finished run's log (its probe and snapshots), shown at its last snapshot.
  void setLog(const GeometryLog& log);
  /// Empties the panel; `message` says why (e.g. "this method is not tracked").
  void clear(const QString& message);

  int snapshotCount() const { return static_cast<int>(snapshots_.size()); }
  int pairCount() const { return static_cast<int>(probe_.pairs.size()); }
  /// The snapshot and pair shown in the 2-D view.
  int currentSnapshot() const { return current_; }
  int currentPair() const;
  void showSnapshot(int index);
  void setCurrentPair(int pair);
  /// What the caption under the 2-D view says.
  QString caption() const;

  LivePlot* ckaPlot() const { return cka_; }
  LivePlot* qualityPlot() const { return quality_; }
  ScatterPlot* scatter() const { return scatter_; }
  QSlider* slider() const { return slider_; }

 private:
  void rebuildCurves();
  void drawScatter();
  QString pairName(int pair) const;

  GeometryProbe probe_;
  std::vector<GeometrySnapshot> snapshots_;
  QStringList classNames_;
  int current_ = -1;
  bool following_ = true;  ///< live: show each new snapshot

  LivePlot* cka_ = nullptr;
  LivePlot* quality_ = nullptr;
  ScatterPlot* scatter_ = nullptr;
  QComboBox* pair_ = nullptr;
  QSlider* slider_ = nullptr;
  QLabel* caption_ = nullptr;
  QLabel* message_ = nullptr;
};

}  // namespace kd::ui
