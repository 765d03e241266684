#pragma once
#include <qcustomplot.h>

#include <QString>
#include <QVector>
#include <string>
#include <vector>

namespace kd::ui {

/// One seed's per-epoch metrics (small CPU copies read from its epochs.jsonl).
struct SeedCurve {
  quint64 seed = 0;
  QVector<double> epoch;  ///< 1-based
  QVector<double> testAcc, trainAcc, trainLoss, testLoss;
};

/// The curves of one run folder, read on a worker thread.
struct RunCurves {
  QString runDir, label;
  qint64 modified = 0;  ///< the run's modification time (seconds) when read: reread on a change
  qint64 readAt = 0;  ///< when it was read (seconds): a read in the second of a change may be stale
  int generation = 0;  ///< the reader's bookkeeping (the page's scan number)
  std::vector<SeedCurve> seeds;
  QString error;  ///< why the curves could not be read, or empty
};

/// Reads the epoch histories of every seed folder of `runDir`; never throws (an unreadable
/// run gives `error`). Meant for a worker thread.
RunCurves readRunCurves(const std::string& runDir, const QString& label, qint64 modified);

/// The Experiments page's overlay plot: one color per run, a bold line with the mean over
/// seeds of the chosen metric per epoch and a thin lighter line per seed, a legend with the
/// run names. Pan/zoom and PNG/PDF/SVG export come from addPlotInteractions.
class RunOverlayPlot : public QCustomPlot {
  Q_OBJECT

 public:
  enum Metric { kTestAccuracy, kTrainLoss, kTestLoss, kTrainAccuracy, kMetricCount };
  /// "Test accuracy (%)", "Train loss", ...
  static QString metricName(Metric metric);

  explicit RunOverlayPlot(QWidget* parent = nullptr);

  /// Replaces the runs shown (run i gets seriesColor(i)). `fit` rescales the axes even when
  /// the user has zoomed (a new selection rather than new epochs of the same runs).
  void setRuns(std::vector<RunCurves> runs, bool fit);
  void setMetric(Metric metric);
  Metric metric() const { return metric_; }
  /// Text shown when no curve is drawn (e.g. "Select runs…").
  void setHint(const QString& text);

  /// Mean curves drawn (one per run with at least one epoch).
  int curveCount() const { return static_cast<int>(means_.size()); }
  /// The mean curve `curve`: epochs (1-based) and values of the current metric.
  QVector<double> curveEpochs(int curve) const;
  QVector<double> curveValues(int curve) const;
  /// The run folder of mean curve `curve`.
  QString curveRunDir(int curve) const { return meanRunDirs_.value(curve); }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  const QVector<double>& values(const SeedCurve& s) const;
  void redraw(bool fit);

  std::vector<RunCurves> runs_;
  Metric metric_ = kTestAccuracy;
  std::vector<QCPGraph*> means_;
  QStringList meanRunDirs_;
  QCPItemText* hint_ = nullptr;
  QString hintText_;
};

}  // namespace kd::ui
