#include "plots/training_plots.h"

#include <QSplitter>
#include <QVBoxLayout>
#include <map>

#include "plots/live_plot.h"

namespace kd::ui {

namespace {

/// Legend text of a loss component named by the engine.
QString lossLabel(const QString& key) {
  static const std::map<QString, QString> kLabels = {
      {QStringLiteral("ce"), QObject::tr("CE")},
      {QStringLiteral("kd"), QObject::tr("KD")},
      {QStringLiteral("feat"), QObject::tr("feature")},
      {QStringLiteral("sp"), QObject::tr("SP")},
      {QStringLiteral("semckd"), QObject::tr("SemCKD")}};
  const auto it = kLabels.find(key);
  return it == kLabels.end() ? key : it->second;
}

using Points = std::pair<QVector<double>, QVector<double>>;

}  // namespace

TrainingPlots::TrainingPlots(QWidget* parent) : QWidget(parent) {
  const QString seedsTip =
      tr("Curves of the seed being trained; each new seed starts them again "
         "(every seed's metrics stay in its folder's steps.jsonl and "
         "epochs.jsonl). Drag to pan, wheel to zoom, double-click to fit.");
  loss_ = new LivePlot(QStringLiteral("lossPlot"), tr("Losses"), tr("epoch"), tr("loss"));
  loss_->setToolTip(tr("Each loss component (unweighted) and the weighted total, averaged over "
                       "the report interval; dots: cross entropy on the test split.\n") +
                    seedsTip);
  accuracy_ = new LivePlot(QStringLiteral("accuracyPlot"), tr("Accuracy"), tr("epoch"), tr("%"));
  // Accuracies rise: their legend sits low, out of the curves' way.
  accuracy_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  accuracy_->setToolTip(tr("Training accuracy per report interval and test accuracy after each "
                           "epoch (dots).\n") +
                        seedsTip);
  lr_ = new LivePlot(QStringLiteral("lrPlot"), tr("Learning rate"), tr("epoch"), tr("LR"));
  lr_->yAxis->setNumberFormat(QStringLiteral("gb"));
  lr_->setToolTip(tr("Learning rate of the schedule at each report.\n") + seedsTip);

  auto* lower = new QSplitter(Qt::Horizontal);
  lower->addWidget(accuracy_);
  lower->addWidget(lr_);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(loss_);
  split->addWidget(lower);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
}

void TrainingPlots::clear(bool showHint) {
  shownSeed_ = -1;
  loss_->clearSeries(showHint ? tr("Press Start to train; curves appear here live.") : QString());
  accuracy_->clearSeries(showHint ? tr("Train and test accuracy") : QString());
  lr_->clearSeries(showHint ? tr("Learning rate schedule") : QString());
}

void TrainingPlots::add(const TrainingUpdate& u) {
  if (u.steps.empty() && u.epochs.empty()) return;
  int seed = shownSeed_;
  for (const auto& s : u.steps) seed = std::max(seed, s.seedIndex);
  for (const auto& e : u.epochs) seed = std::max(seed, e.seedIndex);
  if (seed != shownSeed_) {  // a new seed: its curves start again
    clear(false);
    shownSeed_ = seed;
  }
  std::map<QString, Points> losses;  // by component, "total" included
  Points trainAcc, lr, testAcc, testLoss;
  for (const auto& s : u.steps) {
    if (s.seedIndex != seed) continue;
    trainAcc.first << s.x;
    trainAcc.second << s.trainAcc;
    lr.first << s.x;
    lr.second << s.lr;
    losses[QStringLiteral("total")].first << s.x;
    losses[QStringLiteral("total")].second << s.loss;
    for (const auto& [name, value] : s.losses) {
      loss_->series(name, lossLabel(name));  // components first: the legend lists them on top
      losses[name].first << s.x;
      losses[name].second << value;
    }
  }
  for (const auto& e : u.epochs) {
    if (e.seedIndex != seed) continue;
    testAcc.first << e.x;
    testAcc.second << e.testAcc;
    testLoss.first << e.x;
    testLoss.second << e.testLoss;
  }
  if (!lr.first.isEmpty()) {
    loss_->series(QStringLiteral("total"), tr("total (weighted)"));
    accuracy_->series(QStringLiteral("train"), tr("train"));
    lr_->series(QStringLiteral("lr"), tr("learning rate"));
  }
  if (!testAcc.first.isEmpty()) {
    loss_->series(QStringLiteral("test"), tr("test CE"), true);
    accuracy_->series(QStringLiteral("test"), tr("test"), true);
  }
  for (const auto& [key, points] : losses) loss_->append(key, points.first, points.second);
  loss_->append(QStringLiteral("test"), testLoss.first, testLoss.second);
  accuracy_->append(QStringLiteral("train"), trainAcc.first, trainAcc.second);
  accuracy_->append(QStringLiteral("test"), testAcc.first, testAcc.second);
  lr_->append(QStringLiteral("lr"), lr.first, lr.second);
  for (LivePlot* plot : {loss_, accuracy_, lr_}) plot->refresh();
}

}  // namespace kd::ui
