#pragma once
#include <QElapsedTimer>
#include <QMutex>
#include <QObject>
#include <QString>
#include <atomic>

#include "common/progress.h"

namespace kd::ui {

/// Adapts core's ProgressSink to Qt: core calls progress() on a worker thread; the bridge emits
/// `progressed` (queued to receivers on the GUI thread) at most every kMinIntervalMs, plus the
/// final 100%. cancel() sets an atomic flag that core polls between units of work.
class ProgressBridge : public QObject, public ProgressSink {
  Q_OBJECT

 public:
  /// Minimum time between two emitted updates (the GUI needs no more than ~20 per second).
  static constexpr int kMinIntervalMs = 50;

  explicit ProgressBridge(QObject* parent = nullptr) : QObject(parent) { clock_.start(); }

  void progress(double fraction, const std::string& message) override {
    {
      QMutexLocker lock(&mutex_);
      if (fraction < 1.0 && clock_.isValid() && clock_.elapsed() < kMinIntervalMs && sent_) return;
      clock_.restart();
      sent_ = true;
    }
    emit progressed(fraction, QString::fromStdString(message));
  }
  bool cancelled() const override { return cancelled_.load(); }

  /// Asks the running operation to stop (thread-safe).
  void cancel() { cancelled_.store(true); }
  /// Clears the cancel flag before the next job.
  void reset() {
    cancelled_.store(false);
    QMutexLocker lock(&mutex_);
    sent_ = false;
  }

 signals:
  /// fraction in [0,1] and what is being done.
  void progressed(double fraction, const QString& message);

 private:
  std::atomic<bool> cancelled_{false};
  QMutex mutex_;
  QElapsedTimer clock_;
  bool sent_ = false;
};

}  // namespace kd::ui
