// GUI responsiveness benchmark (issue: the desktop app). A 5 ms timer on the GUI thread records
// the gap between its ticks while the app is idle, while the layer analysis runs and while a
// training runs (all in background workers); the largest and 99th-percentile gaps show how long
// the GUI thread was ever blocked (targets: p99 < 20 ms, max < 100 ms). Then the replot time of
// a plot holding 100,000 points. Prints a table and one JSON line (for the performance report).
// Run it on a real display or under Xvfb: xvfb-run -a build/dev/bench/kdstudio-bench-gui
// LibTorch before Qt: Qt's "slots" keyword macro breaks torch headers included after it.
#include <torch/torch.h>

#include "common/allocator.h"
#include "common/device.h"
#include "pages/layers_page.h"
#include "shell/main_window.h"
#include "shell/session.h"
#include "pages/training_page.h"

#include <CLI/CLI.hpp>
#include <QApplication>
#include <QElapsedTimer>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <qcustomplot.h>
#include <vector>

namespace {

struct Gaps {
  std::vector<double> ms;
  double percentile(double q) const {
    if (ms.empty()) return 0;
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    return s[std::min(s.size() - 1, static_cast<size_t>(q * static_cast<double>(s.size())))];
  }
  double max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

/// Runs the event loop until `done` is true (checked on every tick) or `limit_s` passes,
/// recording the gaps between ticks of a 5 ms precise timer.
Gaps measure(const std::function<bool()>& done, double limit_s) {
  Gaps g;
  QElapsedTimer clock, total;
  clock.start();
  total.start();
  QEventLoop loop;
  QTimer timer;
  timer.setTimerType(Qt::PreciseTimer);
  timer.setInterval(5);
  QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
    g.ms.push_back(static_cast<double>(clock.nsecsElapsed()) / 1e6);
    clock.restart();
    if (done() || total.elapsed() > limit_s * 1000) loop.quit();
  });
  timer.start();
  loop.exec();
  return g;
}

double replotMs(QCustomPlot* plot, int reps) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    QElapsedTimer c;
    c.start();
    plot->replot(QCustomPlot::rpImmediateRefresh);
    QApplication::processEvents();
    t.push_back(static_cast<double>(c.nsecsElapsed()) / 1e6);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("KDStudioBench");
  QApplication::setApplicationName("kdstudio-bench-gui");
  CLI::App cli("GUI responsiveness benchmark");
  int analysisPerClass = 200, trainPerClass = 500, epochs = 1, points = 100000;
  cli.add_option("--analysis-per-class", analysisPerClass, "layer-analysis sample per class")->capture_default_str();
  cli.add_option("--train-per-class", trainPerClass, "training images per class")->capture_default_str();
  cli.add_option("--epochs", epochs, "training epochs")->capture_default_str();
  cli.add_option("--points", points, "points in the replot test")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  kd::tune_allocator();
  kd::configure_threads(0);

  QTemporaryDir settingsDir, runs, cache;
  QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir.path());
  qputenv("KDSTUDIO_CACHE_DIR", cache.path().toUtf8());  // no cached analysis: measure a real one
  kd::ui::MainWindow w;
  w.resize(1280, 800);
  w.show();
  w.loadDefaults();
  kd::ui::Session* s = w.session();
  measure([&] { return s->teacher() && s->student() && s->dataset(); }, 300);

  const Gaps idle = measure([] { return false; }, 3);
  w.tabs()->setCurrentWidget(w.layersPage());
  w.layersPage()->runAnalysis(analysisPerClass);
  const Gaps analysing = measure([&] { return !w.layersPage()->isBusy(); }, 900);

  kd::ui::TrainingPage* t = w.trainingPage();
  w.tabs()->setCurrentWidget(t);
  t->setRunsRoot(runs.path());
  kd::ExperimentConfig c = t->currentConfig();
  c.name = "gui-bench";
  c.epochs = epochs;
  c.seeds = 1;
  c.train_per_class = trainPerClass;
  c.log_every = 1;  // the most frequent reports: the hardest case for the GUI
  t->applyConfig(c);
  t->start();
  const Gaps training = measure([&] { return !t->isRunning(); }, 1800);

  QCustomPlot plot;
  plot.resize(1000, 600);
  plot.show();
  QVector<double> x(points), y(points);
  for (int i = 0; i < points; ++i) {
    x[i] = i;
    y[i] = std::sin(i * 0.001) + 0.1 * std::sin(i * 0.37);
  }
  plot.addGraph()->setData(x, y, true);
  plot.rescaleAxes();
  const double lineMs = replotMs(&plot, 20);
  plot.graph(0)->setLineStyle(QCPGraph::lsNone);
  plot.graph(0)->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 3));
  const double scatterMs = replotMs(&plot, 10);

  std::printf("%-22s %8s %10s %10s\n", "phase", "ticks", "p99 gap", "max gap");
  for (const auto& [name, g] : {std::pair<const char*, const Gaps&>{"idle", idle},
                                {"layer analysis", analysing},
                                {"training", training}}) {
    std::printf("%-22s %8zu %7.1f ms %7.1f ms\n", name, g.ms.size(), g.percentile(0.99), g.max());
  }
  std::printf("replot of %d points: line %.1f ms, scatter %.1f ms (median)\n", points, lineMs, scatterMs);
  nlohmann::json j = {{"bench", "gui"},
                      {"idle", {{"p99_ms", idle.percentile(0.99)}, {"max_ms", idle.max()}}},
                      {"analysis", {{"p99_ms", analysing.percentile(0.99)}, {"max_ms", analysing.max()}, {"ticks", analysing.ms.size()}}},
                      {"training", {{"p99_ms", training.percentile(0.99)}, {"max_ms", training.max()}, {"ticks", training.ms.size()}}},
                      {"replot_points", points},
                      {"replot_line_ms", lineMs},
                      {"replot_scatter_ms", scatterMs},
                      {"training_error", t->lastError().toStdString()}};
  std::printf("%s\n", j.dump().c_str());
  return t->lastError().isEmpty() ? 0 : 1;
}
