#pragma once
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTemporaryDir>
#include <functional>
#include <memory>
#include <vector>

namespace kd::ui {

class MainWindow;

/// Drives the real app through the default workflow (models, data, layer analysis and choice,
/// geometry, a short training, the experiments table, the dark scheme) and saves a screenshot of
/// the window at each page: `kdstudio --tour DIR` (scripts/screenshots.sh runs it under Xvfb).
/// Each step waits for its background work with a time limit; finished(0) when all went well,
/// finished(1) with the reason printed otherwise.
class GuidedTour : public QObject {
  Q_OBJECT

 public:
  /// Settings small enough for a 2-core CPU.
  struct Options {
    int analysisPerClass = 100;  ///< analysis sample size per class
    int geometryPerClass = 60;   ///< points per class in the scatter
    int trainPerClass = 500;     ///< training images per class (the form's default)
    int epochs = 3;              ///< the form's default
    QString prefix;              ///< put before every file name (e.g. "hidpi-")
  };

  GuidedTour(MainWindow* window, QString outDir, Options options, QObject* parent = nullptr);
  ~GuidedTour() override;
  void start();

 signals:
  void finished(int exitCode);

 private:
  struct Step {
    QString what;
    std::function<void()> action;
    std::function<bool()> done;  // polled until true
    int timeoutSeconds;
    std::function<QString()> failure;  // checked once done: a reason to stop the tour, or ""
  };
  void add(QString what, std::function<void()> action, std::function<bool()> done, int timeoutSeconds = 120);
  void shot(const QString& name);
  void next();
  void poll();

  MainWindow* window_;
  QString outDir_;
  Options options_;
  std::vector<Step> steps_;
  size_t current_ = 0;
  QElapsedTimer stepClock_;
  std::unique_ptr<QTemporaryDir> runs_;
};

}  // namespace kd::ui
