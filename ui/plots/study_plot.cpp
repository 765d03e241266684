#include "plots/study_plot.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

QString layerListText(const std::vector<int>& layers) {
  QStringList parts;
  for (int l : layers) parts << QString::number(l);
  return parts.join(QLatin1Char(','));
}

}  // namespace

StudyPlot::StudyPlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("studyPlot"));
  setToolTip(tr("Each point is one choice of teacher layers: across, the mean knowledge quality Q "
                "of its layers; up, the best test accuracy (mean over seeds, bar: \u00b11 "
                "standard deviation). If Q predicts which layers to distil from, the points "
                "rise to the right."));
  points_ = addGraph();
  points_->setName(tr("layer choices"));
  points_->setLineStyle(QCPGraph::lsNone);
  points_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, seriesColor(0), 7));
  highlighted_ = addGraph();
  highlighted_->setName(tr("Q and standard"));
  highlighted_->setLineStyle(QCPGraph::lsNone);
  highlighted_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, seriesColor(1), 13));
  errors_ = new QCPErrorBars(xAxis, yAxis);
  errors_->setDataPlottable(points_);
  errors_->setPen(QPen(seriesColor(0)));
  errors_->removeFromLegend();
  xAxis->setLabel(tr("mean Q of the teacher layers"));
  yAxis->setLabel(tr("best test accuracy (%)"));
  plotLayout()->insertRow(0);
  caption_ = new QCPTextElement(this, QString(), QFont(font().family(), font().pointSize()));
  plotLayout()->addElement(0, 0, caption_);
  applyPlotTheme(this);
  addPlotInteractions(this, QStringLiteral("layer-study"));
  clearReport(tr("No finished runs yet"));
}

QString StudyPlot::caption() const { return caption_->text(); }

void StudyPlot::clearReport(const QString& hint) {
  points_->data()->clear();
  highlighted_->data()->clear();
  errors_->data()->clear();
  choices_.clear();
  positions_.clear();
  clearItems();
  caption_->setText(hint);
  replot();
}

void StudyPlot::setReport(const StudyReport& report) {
  points_->data()->clear();
  highlighted_->data()->clear();
  clearItems();
  choices_.clear();
  positions_.clear();
  struct Label {
    double q, acc;
    QString layers;
    QStringList names;
  };
  std::vector<Label> labels;
  QVector<double> keys, values, errors;
  double minQ = INFINITY, maxQ = -INFINITY, minAcc = INFINITY, maxAcc = -INFINITY;
  for (const StudyRow& r : report.rows) {
    if (!r.mean_q || !r.acc_mean) continue;
    const double q = *r.mean_q, acc = *r.acc_mean, sd = r.acc_std.value_or(0);
    keys << q;
    values << acc;
    errors << sd;
    const QString choice = QString::fromStdString(r.choice);
    choices_ << choice;
    positions_ << QPointF(q, acc);
    if (r.choice == "Q" || r.choice == "standard") highlighted_->addData(q, acc);
    // Choices that picked the same layers share a point: one label names them all.
    const QString layersText = QStringLiteral("[") + layerListText(r.layers) + QLatin1Char(']');
    const QString name = choice.startsWith(QLatin1Char('[')) ? QString() : choice;
    bool merged = false;
    for (auto& l : labels) {
      if (l.q == q && l.acc == acc && l.layers == layersText) {
        if (!name.isEmpty()) l.names << name;
        merged = true;
        break;
      }
    }
    if (!merged) labels.push_back({q, acc, layersText, name.isEmpty() ? QStringList() : QStringList{name}});
    minQ = std::min(minQ, q);
    maxQ = std::max(maxQ, q);
    minAcc = std::min(minAcc, acc - sd);
    maxAcc = std::max(maxAcc, acc + sd);
  }
  for (const auto& l : labels) {
    auto* label = new QCPItemText(this);
    label->position->setCoords(l.q, l.acc);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    label->setPadding(QMargins(5, 0, 0, 2));
    label->setColor(xAxis->labelColor());
    label->setText(l.names.isEmpty() ? l.layers : l.names.join(QStringLiteral(", ")) + QLatin1Char(' ') + l.layers);
  }
  // The graph keeps its points sorted by key, and the error bars follow the graph's order.
  std::vector<int> order(static_cast<size_t>(keys.size()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] < keys[b]; });
  QVector<double> sortedKeys, sortedValues, sortedErrors;
  for (int i : order) {
    sortedKeys << keys[i];
    sortedValues << values[i];
    sortedErrors << errors[i];
  }
  points_->setData(sortedKeys, sortedValues, true);
  errors_->setData(sortedErrors);
  if (choices_.isEmpty()) {
    caption_->setText(tr("No finished runs yet"));
    replot();
    return;
  }
  QString text;
  if (report.spearman && std::isfinite(*report.spearman)) {
    text = tr("Spearman's \u03c1 (accuracy vs mean Q): %1 over %2 choices")
               .arg(*report.spearman, 0, 'f', 2)
               .arg(choices_.size());
  } else if (report.spearman) {
    text = tr("Spearman's \u03c1 undefined: one side is constant");
  } else {
    text = tr("Spearman's \u03c1 needs 3 finished choices (%1 so far)").arg(choices_.size());
  }
  caption_->setText(text);
  const double padQ = std::max(0.05 * (maxQ - minQ), 1e-3);
  const double padAcc = std::max(0.08 * (maxAcc - minAcc), 0.1);
  if (!userHasZoomed(this)) {  // room on the right for the labels
    xAxis->setRange(minQ - padQ, maxQ + 4 * padQ);
    yAxis->setRange(minAcc - padAcc, maxAcc + 2 * padAcc);
  }
  replot();
}

}  // namespace kd::ui
