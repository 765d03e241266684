#pragma once
#include <QMutex>
#include <QObject>
#include <QString>
#include <atomic>
#include <string>

#include "common/progress.h"
#include "distill/trainer.h"
#include "experiment/experiment_config.h"
#include "jobs/training_update.h"

namespace kd::ui {

/// Runs an experiment on the thread it was moved to (Qt's worker-object pattern): prepares it
/// with ExperimentRunner (an existing run folder of the same config is resumed), trains every
/// seed and reports through TrainObserver. Points go into a buffer under a mutex; the first
/// point after the GUI emptied the buffer emits dataArrived(), so the GUI is woken at most once
/// per takeUpdate() however fast reports come. Pause and stop are atomic flags the trainer polls
/// before every batch.
class TrainingWorker : public QObject, public TrainObserver, public ProgressSink {
  Q_OBJECT

 public:
  explicit TrainingWorker(QObject* parent = nullptr);

  /// Runs `config` into a folder under `runsRoot` and emits finished() once, whatever happens.
  /// With `processes` > 1 it trains data-parallel: this process is rank 0 (its reports drive
  /// the page as usual) and kdstudio-cli processes are the other ranks. Call on the worker's
  /// thread (queued).
  void train(const ExperimentConfig& config, const QString& runsRoot, int processes = 1);

  // Thread-safe controls (called from the GUI thread while train() runs).
  void requestStop() { stop_.store(true); }
  void setPaused(bool on) { pause_.store(on); }
  /// Clears stop and pause before the next run.
  void resetFlags();
  /// True from the moment a run is queued (markQueued) until its train() has emitted finished().
  bool isBusy() const { return queued_.load() > 0; }
  /// Call (GUI thread) right before queueing train().
  void markQueued() { queued_.fetch_add(1); }
  /// Moves the buffered points out (GUI thread).
  TrainingUpdate takeUpdate();

  // TrainObserver (called on the worker thread) and ProgressSink (preparation).
  void on_stage(const std::string& what, double fraction) override;
  void on_step(const StepReport& report) override;
  void on_epoch(const EpochReport& report) override;
  void on_seed(int index, int count, uint64_t seed) override;
  void on_note(const std::string& text) override;
  void on_geometry_probe(const GeometryProbe& probe) override;
  void on_geometry(const GeometrySnapshot& snapshot) override;
  bool cancelled() const override { return stop_.load(); }
  bool paused() const override { return pause_.load(); }
  void progress(double fraction, const std::string& message) override;

 signals:
  /// The run folder exists and training begins: the folder, the device in use and what runs.
  void prepared(const QString& runDir, const QString& device, const QString& plan);
  /// New points are waiting in takeUpdate().
  void dataArrived();
  void finished(const kd::ui::TrainingOutcome& outcome);

 private:
  /// Runs `add` on the buffer under the lock and wakes the GUI if it has not been woken yet.
  template <typename F>
  void push(F&& add);
  /// Points of the epochs a resumed seed finished before (from its metrics files).
  void loadHistory(const std::string& seedDir, int seedIndex);

  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_{false};
  std::atomic<int> queued_{0};
  QMutex mutex_;
  TrainingUpdate pending_;
  bool woken_ = false;  ///< dataArrived emitted and the buffer not taken since
  // Worker-thread state of the current run.
  std::string runDir_;
  int seedIndex_ = 0;
  int seedCount_ = 1;
  int64_t batchesPerEpoch_ = 1;
};

}  // namespace kd::ui
