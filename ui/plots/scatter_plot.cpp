#include "plots/scatter_plot.h"

#include <QHash>
#include <algorithm>

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

constexpr int kPointAlpha = 170;     // points overlap: some transparency shows the density
constexpr double kPointSize = 5;     // marker diameter of a sample, pixels
constexpr double kCenterSize = 13;   // marker diameter of a class center, pixels
constexpr double kRingSize = 14;     // the hovered point's ring, pixels
constexpr double kAxisMargin = 0.05; // fraction of the data range added on each side
constexpr int kReferenceAlpha = 110; // reference rings stay behind the points
constexpr double kReferenceSize = 7; // ring diameter of a reference point, pixels

}  // namespace

ScatterPlot::ScatterPlot(QWidget* parent) : QCustomPlot(parent) {
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, QString(), QFont(font().family(), 10, QFont::Bold));
  plotLayout()->addElement(0, 0, title_);
  // The legend goes in a column of its own right of the axes, so it never hides points.
  axisRect()->insetLayout()->take(legend);
  auto* side = new QCPLayoutGrid;
  plotLayout()->addElement(1, 1, side);
  side->addElement(0, 0, legend);
  side->addElement(1, 0, new QCPLayoutElement(this));  // pushes the legend to the top
  side->setRowStretchFactor(0, 0.001);
  side->setMargins(QMargins(0, 10, 6, 10));
  plotLayout()->setColumnStretchFactor(1, 0.001);
  legend->setVisible(false);
  xAxis->setLabel(tr("x"));
  yAxis->setLabel(tr("y"));
  connect(this, &QCustomPlot::mouseMove, this, &ScatterPlot::onMouseMove);
  setMouseTracking(true);
  addLayer(QStringLiteral("reference"), layer(QStringLiteral("main")), limBelow);
  clearPoints();
}

void ScatterPlot::setReference(const QVector<double>& x, const QVector<double>& y,
                               const QVector<int>& labels) {
  QHash<int, QPair<QVector<double>, QVector<double>>> byClass;
  for (int i = 0; i < x.size() && i < y.size() && i < labels.size(); ++i) {
    byClass[labels[i]].first.append(x[i]);
    byClass[labels[i]].second.append(y[i]);
  }
  for (auto it = byClass.cbegin(); it != byClass.cend(); ++it) {
    QCPGraph* g = addGraph();
    g->setLayer(QStringLiteral("reference"));
    QColor color = classColor(it.key());
    color.setAlpha(kReferenceAlpha);
    g->setLineStyle(QCPGraph::lsNone);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(color, 1.2), Qt::NoBrush, kReferenceSize));
    g->setData(it.value().first, it.value().second);
    g->removeFromLegend();
  }
  referenceCount_ = static_cast<int>(std::min({x.size(), y.size(), labels.size()}));
  replot(rpQueuedReplot);
}

void ScatterPlot::setTitle(const QString& title) {
  title_->setText(title);
  replot(rpQueuedReplot);
}

QString ScatterPlot::title() const { return title_->text(); }

void ScatterPlot::clearPoints(const QString& message) {
  clearGraphs();
  clearItems();
  classGraphs_.clear();
  x_.clear();
  y_.clear();
  labels_.clear();
  referenceCount_ = 0;
  highlighted_ = -1;
  ring_ = nullptr;
  legend->setVisible(false);
  title_->setText(message);
  replot(rpQueuedReplot);
}

void ScatterPlot::setPoints(const QVector<double>& x, const QVector<double>& y,
                            const QVector<int>& labels, const QVector<double>& cx,
                            const QVector<double>& cy, const QStringList& classNames) {
  const QString keepTitle = title_->text();
  clearPoints(keepTitle);
  x_ = x;
  y_ = y;
  labels_ = labels;
  const int classes = static_cast<int>(classNames.size());
  QVector<QVector<double>> gx(classes), gy(classes);
  for (int i = 0; i < x_.size(); ++i) {
    const int c = labels_[i];
    if (c < 0 || c >= classes) continue;
    gx[c].append(x_[i]);
    gy[c].append(y_[i]);
  }
  for (int c = 0; c < classes; ++c) {
    QCPGraph* g = addGraph();
    QColor color = classColor(c);
    color.setAlpha(kPointAlpha);
    g->setLineStyle(QCPGraph::lsNone);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, color, kPointSize));
    g->setName(classNames[c]);
    g->setData(gx[c], gy[c]);
    classGraphs_.append(g);
  }
  const QColor outline(25, 25, 25);
  for (int c = 0; c < classes && c < cx.size() && c < cy.size(); ++c) {
    if (gx[c].isEmpty()) continue;  // an empty class has no center
    QCPGraph* g = addGraph();
    g->setLineStyle(QCPGraph::lsNone);
    // ssCircle fills with the brush (ssDisc would fill with the pen's color).
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(outline, 1.6),
                                       QBrush(classColor(c)), kCenterSize));
    g->setData({cx[c]}, {cy[c]});
    g->setName(tr("center of %1").arg(classNames[c]));
    g->removeFromLegend();
    auto* label = new QCPItemText(this);
    label->position->setCoords(cx[c], cy[c]);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    label->setPadding(QMargins(int(kCenterSize / 2), 0, 0, int(kCenterSize / 2)));
    label->setText(QString::number(c));
    QFont f = font();
    f.setBold(true);
    label->setFont(f);
  }
  ring_ = addGraph();
  ring_->setLineStyle(QCPGraph::lsNone);
  ring_->removeFromLegend();
  applyPaletteColors();
  legend->setVisible(classes > 0 && classes <= kMaxLegendClasses);
  rescaleWithMargin();
  replot(rpQueuedReplot);
}

int ScatterPlot::classPointCount(int cls) const {
  if (cls < 0 || cls >= classGraphs_.size()) return 0;
  return classGraphs_[cls]->dataCount();
}

QPointF ScatterPlot::pixelOf(int index) const {
  if (index < 0 || index >= x_.size()) return {};
  return {xAxis->coordToPixel(x_[index]), yAxis->coordToPixel(y_[index])};
}

int ScatterPlot::nearestPoint(const QPointF& pixel, double maxDistance) const {
  if (!axisRect()->rect().contains(pixel.toPoint())) return -1;
  int best = -1;
  double bestSq = maxDistance * maxDistance;
  for (int i = 0; i < x_.size(); ++i) {
    const double dx = xAxis->coordToPixel(x_[i]) - pixel.x();
    const double dy = yAxis->coordToPixel(y_[i]) - pixel.y();
    const double sq = dx * dx + dy * dy;
    if (sq <= bestSq) {
      bestSq = sq;
      best = i;
    }
  }
  return best;
}

void ScatterPlot::setHighlighted(int index) {
  if (index >= x_.size()) index = -1;
  highlighted_ = index;
  if (ring_ == nullptr) return;
  if (index < 0) {
    ring_->data()->clear();
  } else {
    ring_->setData({x_[index]}, {y_[index]});
  }
  replot(rpQueuedReplot);
}

void ScatterPlot::onMouseMove(QMouseEvent* event) {
  if (event->buttons() != Qt::NoButton) return;  // dragging pans, it does not hover
  const int index = nearestPoint(event->position());
  if (index == highlighted_) return;
  setHighlighted(index);
  emit pointHovered(index, event->globalPosition().toPoint());
}

void ScatterPlot::leaveEvent(QEvent* event) {
  QCustomPlot::leaveEvent(event);
  if (highlighted_ < 0) return;
  setHighlighted(-1);
  emit pointHovered(-1, QPoint());
}

void ScatterPlot::changeEvent(QEvent* event) {
  QCustomPlot::changeEvent(event);
  if (event->type() != QEvent::PaletteChange) return;
  applyPlotTheme(this);
  applyPaletteColors();
}

void ScatterPlot::applyPaletteColors() {
  const QColor fg = palette().color(QPalette::Text);
  if (ring_ != nullptr) {
    ring_->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(fg, 2), Qt::NoBrush, kRingSize));
  }
  for (int i = 0; i < itemCount(); ++i) {
    if (auto* text = qobject_cast<QCPItemText*>(item(i))) text->setColor(fg);
  }
  replot(rpQueuedReplot);
}

void ScatterPlot::rescaleWithMargin() {
  rescaleAxes();
  for (QCPAxis* axis : {xAxis, yAxis}) {
    const QCPRange r = axis->range();
    const double pad = r.size() > 0 ? r.size() * kAxisMargin : 1.0;
    axis->setRange(r.lower - pad, r.upper + pad);
  }
}

}  // namespace kd::ui
