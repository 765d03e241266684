#pragma once
#include <QFutureWatcher>
#include <QHash>
#include <QWidget>
#include <vector>

#include "experiment/run_store.h"
#include "jobs/run_files.h"
#include "plots/run_overlay_plot.h"

class QCustomPlot;
class QComboBox;
class QFileSystemWatcher;
class QItemSelection;
class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTabWidget;
class QTableView;
class QTimer;

namespace kd::ui {

class RunTableModel;
class StudentGeometryPanel;
class SweepPanel;

/// The Experiments page: every run folder under the runs root in a table (name, method, layers,
/// seeds, epochs, best and last test accuracy, status, date); selecting several overlays their
/// curves (test accuracy, loss); a run's config can be opened to re-run or edit it; a run's
/// per-epoch metrics export as CSV and any plot as PNG, PDF or SVG. Its Sweeps tab (SweepPanel)
/// runs and shows sweeps and layer-choice studies.
class ExperimentsPage : public QWidget {
  Q_OBJECT

 public:
  explicit ExperimentsPage(QWidget* parent = nullptr);
  ~ExperimentsPage() override;

  QString runsRoot() const;
  /// Lists the runs under `folder` (background scan; the table keeps its selection by run dir).
  void setRunsRoot(const QString& folder);
  /// Re-reads the runs root.
  void refresh();
  int runCount() const;
  /// Selects the runs at these table rows (overlaying their curves).
  void selectRows(const QList<int>& rows);
  /// Curves in the overlay plot.
  int overlayCurveCount() const;
  /// Writes the per-epoch metrics of the run at `row` as CSV; returns the error or "".
  QString exportCsv(int row, const QString& path) const;
  QCustomPlot* overlayPlot() const;
  /// The Sweeps tab.
  SweepPanel* sweepPanel() const { return sweeps_; }
  /// The current run's student geometry (its first seed with a geometry.jsonl), scrubbable.
  StudentGeometryPanel* geometryPanel() const { return geometry_; }
  /// Shows the curves (0) or the student geometry (1) below the table.
  void showRunView(int index);
  /// Brings the Sweeps tab / the Runs tab to the front.
  void showSweeps();
  void showRuns();

  /// True while the runs root is being scanned.
  bool isScanning() const;
  /// The last error shown (unreadable runs folder, failed export), or "" after a success.
  QString lastError() const { return lastError_; }
  /// The run folder at table row `row` (as sorted on screen), or "".
  QString runDirAt(int row) const;
  /// The run folder whose details are shown (the current row), or "".
  QString currentRunDir() const;
  /// The details panel's text (plain).
  QString detailsText() const;
  /// Values of overlay curve `curve` (mean over seeds per epoch of the chosen metric).
  QVector<double> overlayCurveValues(int curve) const;
  /// Chooses the plotted metric.
  void setOverlayMetric(RunOverlayPlot::Metric metric);
  /// Asks to open the config of the run at `row` (emits openConfigRequested).
  void openConfig(int row);
  /// Writes the distilled student of the finished run `runDir` to `path` on a worker thread;
  /// the outcome arrives as studentExported. One export at a time: false when one is running.
  bool exportStudent(const QString& runDir, const QString& path);
  /// True while a student is being written.
  bool isExportingStudent() const;

 signals:
  /// The user asked to open a run's config (config.json path) in the editor.
  void openConfigRequested(const QString& configPath);
  /// A student export finished: `error` is empty on success.
  void studentExported(const QString& path, const QString& error);
  void statusMessage(const QString& text);

 private:
  void buildUi();
  void browse();
  void startScan();
  void onScanFinished();
  void applyRuns(std::vector<RunSummary> runs);
  void watchPaths(const QStringList& paths);
  void updateOverlay(bool fit);
  void onCurvesFinished();
  void updateDetails();
  void updateButtons();
  void showError(const QString& message);
  int sourceRow(int viewRow) const;
  const RunSummary* currentRun() const;
  QStringList selectedRunDirs() const;
  void exportCsvInteractive();
  void exportPlotInteractive();
  void showFolder();
  void showEvent(QShowEvent* event) override;

  QTabWidget* tabs_ = nullptr;
  SweepPanel* sweeps_ = nullptr;
  QLineEdit* root_ = nullptr;
  QPushButton* refresh_ = nullptr;
  QTableView* table_ = nullptr;
  RunTableModel* model_ = nullptr;
  QSortFilterProxyModel* proxy_ = nullptr;
  RunOverlayPlot* plot_ = nullptr;
  StudentGeometryPanel* geometry_ = nullptr;
  QTabWidget* runViews_ = nullptr;
  QString geometryKey_;  ///< the geometry.jsonl shown, with its size and time, to skip rereads
  void showGeometry(const QString& runDir);
  QComboBox* metric_ = nullptr;
  QLabel* details_ = nullptr;
  QLabel* error_ = nullptr;
  QPushButton* openConfig_ = nullptr;
  QPushButton* exportCsv_ = nullptr;
  QPushButton* showFolder_ = nullptr;
  QPushButton* exportStudent_ = nullptr;
  QPushButton* exportPlot_ = nullptr;
  QFileSystemWatcher* fsWatcher_ = nullptr;
  QTimer* debounce_ = nullptr;
  QFutureWatcher<RunScan>* scan_ = nullptr;
  QFutureWatcher<std::vector<RunCurves>>* curvesJob_ = nullptr;
  QFutureWatcher<QString>* exportJob_ = nullptr;  ///< student export; result: the error or ""
  QString exportPath_;                             ///< where exportJob_ writes
  QHash<QString, RunCurves> curves_;  ///< by run folder, reread when the run changes
  int scanGeneration_ = 0;            ///< scans applied so far
  bool scanned_ = false;              ///< a scan was started at least once
  bool rescanPending_ = false;        ///< refresh() came while a scan was running
  bool curvesPending_ = false;        ///< the selection changed while curves were being read
  bool fitPending_ = false;           ///< the pending overlay update is a new selection
  bool curvesFit_ = false;            ///< the running curves job is for a new selection
  bool scanError_ = false;            ///< the error shown is the runs folder's
  bool restoring_ = false;            ///< selection being restored after a refresh
  QString lastError_;
};

}  // namespace kd::ui
