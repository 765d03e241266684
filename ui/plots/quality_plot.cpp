#include "plots/quality_plot.h"

#include <QToolTip>
#include <cmath>

#include "table_models/layer_table_model.h"
#include "plots/plot_style.h"

namespace kd::ui {

namespace {

// A press and release closer than this (in pixels) is a click, not a drag.
constexpr int kClickSlop = 4;
// Width of a selected-layer band, in layers.
constexpr double kBandWidth = 0.8;

double rawValue(const QualityScores& s, QualityPlot::Series series) {
  switch (series) {
    case QualityPlot::kSeparation: return s.separation;
    case QualityPlot::kInformation: return s.information;
    case QualityPlot::kEfficiency: return s.efficiency;
    default: return s.quality;
  }
}

}  // namespace

QString QualityPlot::seriesName(Series series) {
  switch (series) {
    case kSeparation: return tr("S (separation)");
    case kInformation: return tr("I (information)");
    case kEfficiency: return tr("E (efficiency)");
    default: return tr("Q (knowledge quality)");
  }
}

QualityPlot::QualityPlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("qualityPlot"));
  setToolTip(tr("S, I, E and Q of every teacher layer, each divided by its largest value over "
                "the layers so that all four share one axis (the table lists the raw numbers).\n"
                "Stars: the recommended layers (highest Q). Shaded: the layers you chose.\n"
                "Click a layer to select or deselect it; drag to pan, wheel to zoom, "
                "double-click to fit."));
  // The selection bands live on the hidden right axis (0..1) so they always fill the height.
  yAxis2->setRange(0, 1);
  bands_ = new QCPBars(xAxis, yAxis2);
  bands_->setName(tr("chosen layers"));
  bands_->setWidth(kBandWidth);
  bands_->setPen(Qt::NoPen);
  bands_->setBrush(QColor(255, 193, 7, 70));
  bands_->setSelectable(QCP::stNone);
  for (int s = 0; s < kSeriesCount; ++s) {
    curves_[s] = addGraph();
    curves_[s]->setName(seriesName(static_cast<Series>(s)));
    curves_[s]->setSelectable(QCP::stNone);
  }
  recommended_ = addGraph();
  recommended_->setName(tr("recommended (top Q)"));
  recommended_->setLineStyle(QCPGraph::lsNone);
  recommended_->setSelectable(QCP::stNone);
  styleCurves(false);

  xAxis->setLabel(tr("generalized layer of the teacher"));
  yAxis->setLabel(tr("value ÷ its max over layers"));
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  xAxis->setTicker(ticker);
  // The legend goes in a row of its own above the plot, so it never hides a curve.
  legend->setVisible(true);
  legend->setFont(QFont(font().family(), font().pointSize() - 1));
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(3);
  plotLayout()->insertRow(0);
  plotLayout()->addElement(0, 0, legend);
  plotLayout()->setRowStretchFactor(0, 0.001);
  legend->setMargins(QMargins(4, 2, 4, 2));

  hint_ = new QCPItemText(this);
  hint_->position->setType(QCPItemPosition::ptAxisRectRatio);
  hint_->position->setCoords(0.5, 0.08);
  hint_->setPositionAlignment(Qt::AlignHCenter | Qt::AlignTop);
  hint_->setClipToAxisRect(false);
  hint_->setPadding(QMargins(8, 4, 8, 4));

  connect(this, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) { pressPos_ = e->pos(); });
  connect(this, &QCustomPlot::mouseRelease, this, &QualityPlot::onRelease);
  connect(this, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    if (e->buttons() != Qt::NoButton || layerCount_ == 0) return;
    const int layer = qRound(xAxis->pixelToCoord(e->pos().x()));
    if (layer < 0 || layer >= layerCount_ || !axisRect()->rect().contains(e->pos())) return;
    QStringList lines{layerText_.value(layer)};
    for (int s = 0; s < kSeriesCount; ++s) {
      bool found = false;
      const auto it = curves_[s]->data()->findBegin(layer, false);
      if (it != curves_[s]->data()->constEnd() && qRound(it->key) == layer) found = true;
      if (found) {
        lines << QStringLiteral("%1 = %2").arg(seriesName(static_cast<Series>(s)))
                     .arg(it->value * scales_[s], 0, 'g', 4);
      }
    }
    QToolTip::showText(e->globalPosition().toPoint(), lines.join('\n'), this);
  });
  clearAnalysis(tr("Click “Analyse teacher” to compute S, I, E and Q for every layer."));
}

void QualityPlot::styleCurves(bool faded) {
  for (int s = 0; s < kSeriesCount; ++s) {
    QColor c = seriesColor(s);
    if (faded) c.setAlpha(70);
    curves_[s]->setPen(QPen(c, s == kQuality ? 2.5 : 1.6));
    curves_[s]->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, c, c, 5));
  }
  const QColor star = faded ? QColor(0, 0, 0, 0) : QColor(0xd6, 0x27, 0x28);
  recommended_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, QPen(star, 2.5), Qt::NoBrush, 16));
  recommended_->setVisible(!faded);
  bands_->setVisible(!faded);
}

void QualityPlot::setHint(const QString& hint) {
  hint_->setText(hint);
  hint_->setVisible(!hint.isEmpty());
  hint_->setColor(palette().color(QPalette::Text));
  QColor bg = palette().color(QPalette::Base);
  bg.setAlpha(220);
  hint_->setBrush(bg);
  hint_->setPen(QPen(palette().color(QPalette::Mid)));
}

void QualityPlot::setAnalysis(const AnalysisResult& result) {
  const int n = static_cast<int>(result.layers.size());
  layerCount_ = n;
  stale_ = false;
  auto ticker = qSharedPointerCast<QCPAxisTickerText>(xAxis->ticker());
  ticker->clear();
  layerText_.clear();
  for (int l = 0; l < n; ++l) {
    const LayerInfo& info = result.layers[static_cast<size_t>(l)].layer;
    ticker->addTick(l, QString::number(l));
    layerText_ << tr("Layer %1: %2 (%3), %4")
                      .arg(l)
                      .arg(QString::fromStdString(info.name), QString::fromStdString(info.kind),
                           shapeText(info.shape));
  }
  for (int s = 0; s < kSeriesCount; ++s) {
    const auto series = static_cast<Series>(s);
    double maxAbs = 0;
    for (const auto& layer : result.layers) {
      const double v = rawValue(layer.scores, series);
      if (std::isfinite(v)) maxAbs = std::max(maxAbs, std::abs(v));
    }
    scales_[s] = maxAbs > 0 ? maxAbs : 1.0;
    QVector<double> keys, values;
    for (int l = 0; l < n; ++l) {
      keys << l;
      values << rawValue(result.layers[static_cast<size_t>(l)].scores, series) / scales_[s];
    }
    curves_[s]->setData(keys, values, true);
  }
  QVector<double> rk, rv;
  for (int l : result.recommended) {
    if (l < 0 || l >= n) continue;
    rk << l;
    rv << curves_[kQuality]->data()->at(l)->value;
  }
  recommended_->setData(rk, rv, true);
  styleCurves(false);
  setHint({});
  xAxis->setRange(-0.6, n - 0.4);
  double lo = 0;
  for (int s = 0; s < kSeriesCount; ++s) {
    bool ok = false;
    const QCPRange r = curves_[s]->data()->valueRange(ok);
    if (ok) lo = std::min(lo, r.lower);
  }
  yAxis->setRange(lo - 0.05, 1.12);
  replot(rpQueuedReplot);
}

void QualityPlot::clearAnalysis(const QString& hint) {
  layerCount_ = 0;
  stale_ = true;
  for (auto* c : curves_) c->data()->clear();
  recommended_->data()->clear();
  bands_->data()->clear();
  qSharedPointerCast<QCPAxisTickerText>(xAxis->ticker())->clear();
  xAxis->setRange(0, 1);
  yAxis->setRange(0, 1);
  setHint(hint);
  replot(rpQueuedReplot);
}

void QualityPlot::setStale(const QString& hint) {
  if (layerCount_ == 0) {
    clearAnalysis(hint);
    return;
  }
  stale_ = true;
  styleCurves(true);
  setHint(hint);
  replot(rpQueuedReplot);
}

void QualityPlot::setSelectedLayers(const QVector<int>& layers) {
  QVector<double> keys, values;
  for (int l : layers) {
    if (l < 0 || l >= layerCount_) continue;
    keys << l;
    values << 1.0;
  }
  bands_->setData(keys, values, true);
  replot(rpQueuedReplot);
}

QPoint QualityPlot::layerPixel(int layer) const {
  const QRect r = axisRect()->rect();
  return {qRound(xAxis->coordToPixel(layer)), r.center().y()};
}

void QualityPlot::onRelease(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton || stale_ || layerCount_ == 0) return;
  if ((event->pos() - pressPos_).manhattanLength() > kClickSlop) return;  // a drag (pan)
  if (!axisRect()->rect().contains(event->pos())) return;
  const double x = xAxis->pixelToCoord(event->pos().x());
  const int layer = qRound(x);
  if (layer < 0 || layer >= layerCount_ || std::abs(x - layer) > 0.5) return;
  emit layerClicked(layer);
}

}  // namespace kd::ui
