#pragma once
#include <QFutureWatcher>
#include <QThreadPool>
#include <QWidget>
#include <atomic>
#include <memory>
#include <optional>

#include "experiment/experiment_config.h"
#include "sweep/layer_study.h"
#include "sweep/slurm_submit.h"
#include "sweep/sweep_folder.h"
#include "sweep/sweep_queue.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace kd::ui {

class ProgressBridge;
class StudyPlot;

/// The Experiments page's Sweeps tab (docs/sweeps.md): opens a sweep file (its folder is made
/// under the sweeps folder) or a sweep folder, runs its points here N at a time as kdstudio-cli
/// processes (core's run_sweep_queue; Stop ends them at their last checkpoint, Run continues),
/// or submits them to Slurm when sbatch is on the PATH; shows the results pooled over seeds and
/// every point's status, read from the folder (so a sweep run by the CLI or on a cluster shows
/// the same), and exports them as CSV. A layer-choice study (core/sweep/layer_study) also gets
/// its plot: accuracy against the mean Q of the teacher layers, Spearman's rho and the verdict.
class SweepPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SweepPanel(QWidget* parent = nullptr);
  /// Stops a running queue (its points keep their checkpoints) and waits for it.
  ~SweepPanel() override;

  QString sweepsRoot() const;
  void setSweepsRoot(const QString& folder);
  /// The kdstudio-cli that runs the points (default: next to this program, else on the PATH).
  QString cliPath() const { return cliPath_; }
  void setCliPath(const QString& path) { cliPath_ = path; }

  /// Opens a sweep folder, or a sweep file (creating or reopening its folder under the sweeps
  /// folder). Returns the error shown, or "" (nothing changes on an error).
  QString openSweep(const QString& fileOrFolder);
  /// The open sweep folder, or "".
  QString sweepDir() const;

  /// Runs the open sweep's unfinished points, `jobs` at a time; false when none is open or a
  /// run is going on.
  bool startRun(int jobs);
  /// Stops the queue (running points end at their current batch, resumable) or the study's
  /// analysis.
  void stop();
  /// True while points run here or a study is being prepared.
  bool isBusy() const;

  /// Re-reads every point's status from the folder.
  void refreshStatus();
  const SweepStatus& status() const { return status_; }
  int groupRowCount() const;
  int pointRowCount() const;
  /// The text of a cell of the grouped table / of the points table.
  QString groupCell(int row, int column) const;
  QString pointCell(int row, int column) const;

  /// Writes the results by sweep point as CSV; returns the error or "".
  QString exportCsv(const QString& path);
  /// True when sbatch is on the PATH (a cluster's login node).
  static bool clusterAvailable();
  /// Submits the open sweep's unfinished points to Slurm as a job array (kdstudio-cli
  /// cliPath() runs them); returns the error or "".
  QString submitToSlurm(SlurmOptions options);

  /// Starts a layer-choice study of `base` (the Training page's experiment): the teacher's
  /// layer analysis in the background, then the study's sweep folder under the sweeps folder,
  /// opened and run `jobs` at a time. Returns the error (a method that distils no layers, a run
  /// going on) or "".
  QString startLayerStudy(const ExperimentConfig& base, const LayerStudyOptions& options, int jobs);
  /// True when the open sweep is a layer-choice study.
  bool isStudy() const { return !studyLayers_.empty(); }
  StudyPlot* studyPlot() const { return studyPlot_; }
  /// The study's verdict as shown (plain words), or "".
  QString studyVerdict() const;

  /// The last error shown, "" after a success.
  QString lastError() const { return lastError_; }

  /// Asks for the study's size (seeds, random sets, jobs); false when cancelled.
  static bool askLayerStudy(QWidget* parent, LayerStudyOptions* options, int* jobs);

 signals:
  void statusMessage(const QString& text);
  void busyChanged(bool busy);
  /// A queue run ended (stopped: by Stop).
  void runFinished(bool stopped);
  /// A study's sweep folder was made and opened.
  void studyPrepared(const QString& dir);

 private:
  struct QueueResult {
    QueueOutcome outcome;
    QString error;
  };
  struct StudyResult {
    QString dir, error;
    bool cancelled = false;
  };

  void buildUi();
  void showError(const QString& message);
  void updateButtons();
  void updateTables();
  void updateStudy();
  void onQueueFinished();
  void onStudyFinished();
  void openFileInteractive();
  void openFolderInteractive();
  void exportCsvInteractive();
  void submitInteractive();

  QLineEdit* root_ = nullptr;
  QLabel* title_ = nullptr;
  QLabel* counts_ = nullptr;
  QLabel* error_ = nullptr;
  QSpinBox* jobs_ = nullptr;
  QPushButton* run_ = nullptr;
  QPushButton* stop_ = nullptr;
  QPushButton* cluster_ = nullptr;
  QPushButton* exportCsv_ = nullptr;
  QPushButton* showFolder_ = nullptr;
  QTableWidget* groups_ = nullptr;
  QTableWidget* points_ = nullptr;
  QWidget* studyBox_ = nullptr;
  StudyPlot* studyPlot_ = nullptr;
  QLabel* verdict_ = nullptr;
  QTimer* poll_ = nullptr;
  QFutureWatcher<QueueResult>* queue_ = nullptr;
  QFutureWatcher<StudyResult>* study_ = nullptr;
  ProgressBridge* studyProgress_ = nullptr;
  int studyJobs_ = 1;
  /// Its own threads: a sweep holds one for hours, which must not starve the app's shared pool
  /// (model loading, run scans) on a machine with few cores.
  QThreadPool pool_;

  std::optional<SweepFolder> folder_;
  SweepStatus status_;
  std::vector<StudyLayer> studyLayers_;
  std::shared_ptr<std::atomic<bool>> stopFlag_;
  QString cliPath_;
  QString lastError_;
};

}  // namespace kd::ui
