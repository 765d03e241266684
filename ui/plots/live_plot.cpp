#include "plots/live_plot.h"

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

// Share of the value range added above and below the data, so curves do not touch the frame.
constexpr double kValueMargin = 0.05;
// Share of the x range added left and right, so end markers are drawn whole.
constexpr double kKeyMargin = 0.015;

}  // namespace

LivePlot::LivePlot(const QString& name, const QString& title, const QString& xLabel,
                   const QString& yLabel, QWidget* parent)
    : QCustomPlot(parent) {
  setObjectName(name);
  plotLayout()->insertRow(0);
  plotLayout()->addElement(
      0, 0, new QCPTextElement(this, title, QFont(font().family(), 10, QFont::Bold)));
  xAxis->setLabel(xLabel);
  yAxis->setLabel(yLabel);
  xAxis->setRange(0, 1);
  legend->setVisible(true);
  legend->setFont(QFont(font().family(), font().pointSize() - 1));
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  placeholder_ = new QCPItemText(this);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setPositionAlignment(Qt::AlignCenter);
  placeholder_->setClipToAxisRect(false);
  setNoAntialiasingOnDrag(true);
  applyPlotTheme(this);
  addPlotInteractions(this, name);
}

QCPGraph* LivePlot::series(const QString& key, const QString& label, bool markers) {
  if (QCPGraph* g = graphs_.value(key, nullptr)) return g;
  QCPGraph* g = addGraph();
  g->setName(label);
  g->setSelectable(QCP::stNone);
  const QColor color = seriesColor(static_cast<int>(graphs_.size()));
  g->setPen(QPen(color, markers ? 1.5 : 1.8));
  if (markers) g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, color, 6));
  graphs_.insert(key, g);
  legend->setVisible(graphs_.size() > 1);
  return g;
}

void LivePlot::append(const QString& key, const QVector<double>& xs, const QVector<double>& ys) {
  if (QCPGraph* g = graphs_.value(key, nullptr)) g->addData(xs, ys, true);
  if (!xs.isEmpty()) placeholder_->setVisible(false);
}

void LivePlot::clearSeries(const QString& placeholder) {
  clearGraphs();
  graphs_.clear();
  legend->setVisible(false);
  placeholder_->setText(placeholder);
  placeholder_->setColor(palette().color(QPalette::PlaceholderText));
  placeholder_->setVisible(!placeholder.isEmpty());
  xAxis->setRange(0, 1);
  yAxis->setRange(0, 1);
  replot(rpQueuedReplot);
}

void LivePlot::refresh() {
  if (!userHasZoomed(this) && graphCount() > 0) {
    rescaleAxes();
    const QCPRange x = xAxis->range();
    const double xPad = x.size() > 0 ? x.size() * kKeyMargin : 0.5;
    xAxis->setRange(x.lower - xPad, x.upper + xPad);
    const QCPRange y = yAxis->range();
    const double pad =
        y.size() > 0 ? y.size() * kValueMargin : std::max(1e-9, std::abs(y.lower) * 0.1);
    yAxis->setRange(y.lower - pad, y.upper + pad);
  }
  replot(rpQueuedReplot);
}

}  // namespace kd::ui
