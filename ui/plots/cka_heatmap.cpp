#include "plots/cka_heatmap.h"

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

// Smallest cell, in pixels, that gets its value written in it.
constexpr double kMinLabelWidth = 30;
constexpr double kMinLabelHeight = 14;
// Above this many cells no labels are created at all.
constexpr int kMaxLabels = 400;

QCPColorGradient viridis() {
  QCPColorGradient g;
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setColorStopAt(0.0, QColor(0x44, 0x01, 0x54));
  g.setColorStopAt(0.25, QColor(0x3b, 0x52, 0x8b));
  g.setColorStopAt(0.5, QColor(0x21, 0x91, 0x8c));
  g.setColorStopAt(0.75, QColor(0x5e, 0xc9, 0x62));
  g.setColorStopAt(1.0, QColor(0xfd, 0xe7, 0x25));
  return g;
}

/// The color map's key/value range for n cells centred on 0..n-1.
QCPRange cellRange(int n) { return n > 1 ? QCPRange(0, n - 1) : QCPRange(-0.5, 0.5); }

}  // namespace

CkaHeatmap::CkaHeatmap(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("ckaPlot"));
  setToolTip(tr("Linear CKA (Kornblith et al. 2019) between every teacher layer (rows) and every "
                "student layer (columns) on a class-balanced sample: 1 = the two layers' "
                "representations agree up to rotation and scale, 0 = unrelated.\n"
                "Outlined: the chosen teacher-student pairs."));
  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);
  map_->setTightBoundary(false);  // the data range holds the cell centres
  map_->setGradient(viridis());
  map_->setDataRange(QCPRange(0, 1));
  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  scale_->setGradient(viridis());
  scale_->setDataRange(QCPRange(0, 1));
  scale_->axis()->setLabel(tr("linear CKA"));
  map_->setColorScale(scale_);
  auto* group = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);

  xAxis->setLabel(tr("student layer"));
  yAxis->setLabel(tr("teacher layer"));
  yAxis->setRangeReversed(true);  // row 0 on top, as in a matrix
  for (QCPAxis* axis : {xAxis, yAxis}) {
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(1);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssNone);  // every layer labelled
    axis->setTicker(ticker);
    axis->setSubTicks(false);
    axis->grid()->setVisible(false);
  }

  hint_ = new QCPItemText(this);
  hint_->position->setType(QCPItemPosition::ptAxisRectRatio);
  hint_->position->setCoords(0.5, 0.5);
  hint_->setPositionAlignment(Qt::AlignCenter);
  hint_->setPadding(QMargins(8, 4, 8, 4));
  hint_->setClipToAxisRect(false);
  hint_->setTextAlignment(Qt::AlignCenter);
  hint_->setLayer(QStringLiteral("overlay"));
  connect(this, &QCustomPlot::afterLayout, this, &CkaHeatmap::updateLabels);
  clearMatrix(tr("Click “Compute CKA” to compare\nevery teacher layer with every student layer."));
}

void CkaHeatmap::setHint(const QString& hint) {
  hint_->setText(hint);
  hint_->setVisible(!hint.isEmpty());
  hint_->setColor(palette().color(QPalette::Text));
  QColor bg = palette().color(QPalette::Base);
  bg.setAlpha(225);
  hint_->setBrush(bg);
  hint_->setPen(QPen(palette().color(QPalette::Mid)));
}

void CkaHeatmap::setMatrix(const std::vector<std::vector<double>>& matrix) {
  rows_ = static_cast<int>(matrix.size());
  cols_ = rows_ > 0 ? static_cast<int>(matrix.front().size()) : 0;
  for (auto* label : labels_) removeItem(label);
  labels_.clear();
  map_->data()->setSize(cols_, rows_);
  map_->data()->setRange(cellRange(cols_), cellRange(rows_));
  const bool withLabels = rows_ * cols_ <= kMaxLabels;
  for (int t = 0; t < rows_; ++t) {
    for (int s = 0; s < cols_; ++s) {
      const double v = matrix[static_cast<size_t>(t)][static_cast<size_t>(s)];
      map_->data()->setCell(s, t, v);
      if (!withLabels) continue;
      auto* label = new QCPItemText(this);
      label->position->setCoords(s, t);
      label->setPositionAlignment(Qt::AlignCenter);
      label->setText(QString::number(v, 'f', 2));
      label->setColor(v < 0.6 ? Qt::white : Qt::black);
      QFont f = font();
      f.setPointSizeF(f.pointSizeF() * 0.8);
      label->setFont(f);
      labels_ << label;
    }
  }
  xAxis->setTickLabels(true);
  yAxis->setTickLabels(true);
  xAxis->setRange(-0.5, cols_ - 0.5);
  yAxis->setRange(-0.5, rows_ - 0.5);
  setHint({});
  setPairs(pairT_, pairS_);
}

void CkaHeatmap::clearMatrix(const QString& hint) {
  rows_ = cols_ = 0;
  for (auto* label : labels_) removeItem(label);
  labels_.clear();
  map_->data()->clear();
  xAxis->setTickLabels(false);
  yAxis->setTickLabels(false);
  xAxis->setRange(-0.5, 5.5);
  yAxis->setRange(-0.5, 5.5);
  setHint(hint);
  setPairs(pairT_, pairS_);
}

void CkaHeatmap::setStale(const QString& hint) {
  if (cellCount() == 0) return clearMatrix(hint);
  setHint(hint);
  replot(rpQueuedReplot);
}

void CkaHeatmap::setPairs(const QVector<int>& teacher, const QVector<int>& student) {
  pairT_ = teacher;
  pairS_ = student;
  for (auto* outline : outlines_) removeItem(outline);
  outlines_.clear();
  const int n = static_cast<int>(std::min(teacher.size(), student.size()));
  for (int i = 0; i < n; ++i) {
    const int t = teacher[i], s = student[i];
    if (t < 0 || t >= rows_ || s < 0 || s >= cols_) continue;
    auto* rect = new QCPItemRect(this);
    rect->topLeft->setCoords(s - 0.5, t - 0.5);
    rect->bottomRight->setCoords(s + 0.5, t + 0.5);
    rect->setPen(QPen(seriesColor(i), 3));
    rect->setBrush(Qt::NoBrush);
    outlines_ << rect;
  }
  replot(rpQueuedReplot);
}

double CkaHeatmap::value(int teacherLayer, int studentLayer) const {
  return map_->data()->cell(studentLayer, teacherLayer);
}

int CkaHeatmap::visibleLabelCount() const {
  int n = 0;
  for (const auto* label : labels_) n += label->visible() ? 1 : 0;
  return n;
}

void CkaHeatmap::updateLabels() {
  if (labels_.isEmpty()) return;
  const double w = std::abs(xAxis->coordToPixel(1) - xAxis->coordToPixel(0));
  const double h = std::abs(yAxis->coordToPixel(1) - yAxis->coordToPixel(0));
  const bool show = w >= kMinLabelWidth && h >= kMinLabelHeight;
  for (auto* label : labels_) label->setVisible(show);
}

}  // namespace kd::ui
