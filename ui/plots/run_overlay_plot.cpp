#include "plots/run_overlay_plot.h"

#include <QDateTime>
#include <algorithm>

#include "experiment/run_store.h"
#include "shell/guarded_call.h"
#include "plots/plot_style.h"

namespace kd::ui {

namespace {

/// Alpha of the per-seed lines under a run's mean line.
constexpr int kSeedAlpha = 70;

}  // namespace

RunCurves readRunCurves(const std::string& runDir, const QString& label, qint64 modified) {
  RunCurves r;
  r.runDir = QString::fromStdString(runDir);
  r.label = label;
  r.modified = modified;
  r.readAt = QDateTime::currentSecsSinceEpoch();
  r.error = runGuarded([&] {
    for (const std::string& dir : seed_dirs(runDir)) {
      SeedCurve s;
      s.seed = seed_of_dir(dir);
      for (const EpochReport& e : read_epoch_history(dir)) {
        s.epoch << e.epoch + 1;
        s.testAcc << e.test_acc;
        s.trainAcc << e.train_acc;
        s.trainLoss << e.loss;
        s.testLoss << e.test_loss;
      }
      if (!s.epoch.isEmpty()) r.seeds.push_back(std::move(s));
    }
  });
  return r;
}

QString RunOverlayPlot::metricName(Metric metric) {
  switch (metric) {
    case kTestAccuracy:
      return tr("Test accuracy (%)");
    case kTrainLoss:
      return tr("Train loss");
    case kTestLoss:
      return tr("Test loss");
    case kTrainAccuracy:
      return tr("Train accuracy (%)");
    default:
      return {};
  }
}

RunOverlayPlot::RunOverlayPlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("runOverlayPlot"));
  xAxis->setLabel(tr("Epoch"));
  yAxis->setLabel(metricName(metric_));
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);  // whole epochs, fewer when many
  xAxis->setTicker(ticker);
  legend->setVisible(false);
  hint_ = new QCPItemText(this);
  hint_->position->setType(QCPItemPosition::ptAxisRectRatio);
  hint_->position->setCoords(0.5, 0.5);
  hint_->setPositionAlignment(Qt::AlignCenter);
  applyPlotTheme(this);
  addPlotInteractions(this, QStringLiteral("experiments"));
  setToolTip(
      tr("Curves of the selected runs: bold = mean over seeds, thin = each seed. Drag to "
         "pan, wheel to zoom, double-click to fit, right-click to export"));
  redraw(true);
}

void RunOverlayPlot::setRuns(std::vector<RunCurves> runs, bool fit) {
  runs_ = std::move(runs);
  redraw(fit || !userHasZoomed(this));
}

void RunOverlayPlot::setMetric(Metric metric) {
  if (metric == metric_) return;
  metric_ = metric;
  redraw(true);  // other units: the old view means nothing
}

void RunOverlayPlot::setHint(const QString& text) {
  hintText_ = text;
  redraw(false);
}

QVector<double> RunOverlayPlot::curveEpochs(int curve) const {
  QVector<double> out;
  if (curve < 0 || curve >= curveCount()) return out;
  for (auto it = means_[curve]->data()->constBegin(); it != means_[curve]->data()->constEnd(); ++it)
    out << it->key;
  return out;
}

QVector<double> RunOverlayPlot::curveValues(int curve) const {
  QVector<double> out;
  if (curve < 0 || curve >= curveCount()) return out;
  for (auto it = means_[curve]->data()->constBegin(); it != means_[curve]->data()->constEnd(); ++it)
    out << it->value;
  return out;
}

void RunOverlayPlot::changeEvent(QEvent* event) {
  QCustomPlot::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) {
    applyPlotTheme(this);
    redraw(false);
  }
}

const QVector<double>& RunOverlayPlot::values(const SeedCurve& s) const {
  switch (metric_) {
    case kTrainLoss:
      return s.trainLoss;
    case kTestLoss:
      return s.testLoss;
    case kTrainAccuracy:
      return s.trainAcc;
    default:
      return s.testAcc;
  }
}

void RunOverlayPlot::redraw(bool fit) {
  clearGraphs();
  means_.clear();
  meanRunDirs_.clear();
  yAxis->setLabel(metricName(metric_));
  for (size_t i = 0; i < runs_.size(); ++i) {
    const RunCurves& run = runs_[i];
    if (run.seeds.empty()) continue;
    const QColor color = seriesColor(static_cast<int>(i));
    QColor light = color;
    light.setAlpha(kSeedAlpha);
    // Mean over the seeds that reached each epoch (a partial run's later epochs have fewer).
    QVector<double> sum, count;
    for (const SeedCurve& s : run.seeds) {
      const QVector<double>& v = values(s);
      if (sum.size() < v.size()) {
        sum.resize(v.size());
        count.resize(v.size());
      }
      for (int k = 0; k < v.size(); ++k) {
        sum[k] += v[k];
        count[k] += 1;
      }
      if (run.seeds.size() > 1) {
        QCPGraph* g = addGraph();
        g->setData(s.epoch, v, true);
        g->setPen(QPen(light, 1));
        g->removeFromLegend();
        g->setSelectable(QCP::stNone);
      }
    }
    QVector<double> epochs, mean;
    for (int k = 0; k < sum.size(); ++k) {
      epochs << k + 1;
      mean << sum[k] / count[k];
    }
    QCPGraph* g = addGraph();
    g->setData(epochs, mean, true);
    g->setPen(QPen(color, 2));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    g->setName(run.seeds.size() > 1 ? tr("%1 (%2 seeds)").arg(run.label).arg(run.seeds.size())
                                    : run.label);
    means_.push_back(g);
    meanRunDirs_ << run.runDir;
  }
  const bool accuracy = metric_ == kTestAccuracy || metric_ == kTrainAccuracy;
  legend->setVisible(!means_.empty());
  axisRect()->insetLayout()->setInsetAlignment(
      0, accuracy ? Qt::AlignBottom | Qt::AlignRight : Qt::AlignTop | Qt::AlignRight);
  hint_->setVisible(means_.empty());
  hint_->setText(hintText_.isEmpty() ? tr("Select runs in the table to overlay their curves")
                                     : hintText_);
  hint_->setColor(palette().color(QPalette::PlaceholderText));
  if (fit) {
    if (means_.empty()) {
      xAxis->setRange(0.5, 10.5);
      yAxis->setRange(accuracy ? QCPRange(0, 100) : QCPRange(0, 2.5));
    } else {
      rescaleAxes();
      const QCPRange x = xAxis->range();
      xAxis->setRange(x.lower - 0.5, x.upper + 0.5);
      const QCPRange y = yAxis->range();
      const double pad = std::max(y.size() * 0.06, accuracy ? 0.5 : 0.01);
      yAxis->setRange(y.lower - pad, y.upper + pad);
    }
  }
  replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace kd::ui
