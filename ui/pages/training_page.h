#pragma once
#include <QWidget>

#include "experiment/experiment_config.h"
#include "jobs/training_update.h"

class QCustomPlot;

namespace kd::ui {

class Session;
class StudentGeometryPanel;

/// The Training page: method and hyperparameters in a form (defaults from method.md), Start,
/// Pause, Resume and Stop; live plots of every loss component, train and test accuracy and the
/// learning rate; a progress bar with seed, epoch, ETA and images per second; the device in use.
/// Training runs an ExperimentRunner on a worker QThread (TrainingWorker); the GUI receives plain
/// numbers in batches and replots at most ~25 times a second.
class TrainingPage : public QWidget {
  Q_OBJECT

 public:
  explicit TrainingPage(Session* session, QWidget* parent = nullptr);
  ~TrainingPage() override;  ///< stops a running training and waits for its thread

  /// The experiment the form and the session describe (teacher, student and dataset specs from
  /// the session, layers from the session, everything else from the form).
  ExperimentConfig currentConfig() const;
  /// Fills the form from a config (models, data and layers are the caller's business).
  void applyConfig(const ExperimentConfig& config);

  /// Folder the run folders go to.
  QString runsRoot() const;
  void setRunsRoot(const QString& folder);

  /// Starts training currentConfig() (an existing run folder of the same config is resumed).
  void start();
  void pause();
  void resume();
  /// Asks the worker to stop at the next batch; the last checkpoint stays.
  void stop();
  bool isRunning() const;
  bool isPaused() const;
  /// Blocks until the worker thread finished (for shutdown); false on timeout.
  bool waitForStopped(int timeoutMs);

  /// Teacher mode: trains the session's *teacher* model alone (method "student", cross entropy,
  /// no teacher) so that a zoo teacher can be trained here first; the form says so. When it
  /// completes, teacherTrained() gives the trained model file (seed folder's student.kdmodel).
  void setTeacherMode(bool on);
  bool teacherMode() const;

  /// Points received so far on the test-accuracy curve and on the loss curves (for tests).
  int testAccuracyPoints() const;
  int lossPoints() const;
  QString lastError() const;
  QCustomPlot* lossPlot() const;
  QCustomPlot* accuracyPlot() const;
  QCustomPlot* lrPlot() const;
  /// The "Student geometry" tab (geometry tracking).
  StudentGeometryPanel* geometryPanel() const;
  /// Shows the curves (0) or the student geometry (1).
  void showView(int index);

 signals:
  void started(const QString& runDir);
  /// Training ended: complete (every seed done), stopped by the user, or failed.
  void finished(const QString& runDir, bool complete);
  void failed(const QString& message);
  /// Teacher mode finished: the trained model file, ready to load as the teacher.
  void teacherTrained(const QString& modelPath);
  void statusMessage(const QString& text);
  /// Running state changed (Start/Pause/Stop enabled states, window title).
  void runningChanged(bool running);

 private:
  void buildUi();
  /// Why start() would refuse, one problem per entry (empty when it can start).
  QStringList problems() const;
  void onPrepared(const QString& runDir, const QString& device, const QString& plan);
  void onFinished(const kd::ui::TrainingOutcome& outcome);
  /// Moves the worker's buffered points into the plots and replots once.
  void flush();
  void showProgress(const TrainingUpdate::Progress& progress);
  void showError(const QString& message);
  void addNote(const QString& note);
  void updateButtons();
  void updateSummary();
  QStringList classNames() const;

  struct Private;
  Private* d;
};

}  // namespace kd::ui
