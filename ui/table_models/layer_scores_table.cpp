#include "table_models/layer_scores_table.h"

#include <QHeaderView>
#include <cmath>

#include "table_models/layer_table_model.h"

namespace kd::ui {

namespace {

QTableWidgetItem* numberItem(double v, int precision = 4) {
  auto* item = new QTableWidgetItem(std::isfinite(v) ? QString::number(v, 'g', precision)
                                                     : QStringLiteral("–"));
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
  return item;
}

QTableWidgetItem* textItem(const QString& text) {
  auto* item = new QTableWidgetItem(text);
  item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
  return item;
}

}  // namespace

LayerScoresTable::LayerScoresTable(QWidget* parent) : QTableWidget(0, kColumnCount, parent) {
  setObjectName(QStringLiteral("layerScores"));
  setHorizontalHeaderLabels({tr("Use"), tr("Layer"), tr("Output"), tr("S"), tr("I"), tr("E"),
                             tr("Q"), tr("TwoNN ID"), tr("PCA-ID"), tr("NCC %")});
  const QStringList tips = {
      tr("Tick to distil this teacher layer"),
      tr("Generalized layer index and module name; ★ = recommended (highest Q)"),
      tr("Output shape of the layer"),
      tr("Separation: mean intra-class minus mean inter-class |cosine|"),
      tr("Information: (1 - mean min intra-class |cosine|) x mean class spectral entropy / ln 5"),
      tr("Efficiency: (N/pi)^(1/PCAGID) x 2 x mean min inter-class distance / mean norm"),
      tr("Knowledge quality Q = S + sqrt(I x E)"),
      tr("TwoNN intrinsic dimension (Facco et al. 2017)"),
      tr("Principal components reaching 90% of the variance"),
      tr("Nearest-class-center accuracy on the sample (a linear-separability probe)")};
  for (int c = 0; c < kColumnCount; ++c) horizontalHeaderItem(c)->setToolTip(tips[c]);
  verticalHeader()->hide();
  verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
  // Text columns fit their contents; the numbers share the rest of the width.
  horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  for (int c : {kUse, kLayer, kShape}) horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  setEditTriggers(QAbstractItemView::NoEditTriggers);
  setSelectionBehavior(QAbstractItemView::SelectRows);
  setAlternatingRowColors(true);
  setToolTip(tr("The raw numbers of every teacher layer; tick “Use” to choose a layer"));
  connect(this, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
    if (updating_ || item->column() != kUse) return;
    emit layerToggled(item->row());
  });
}

void LayerScoresTable::setAnalysis(const AnalysisResult& result) {
  updating_ = true;
  setEnabled(true);
  const int n = static_cast<int>(result.layers.size());
  setRowCount(n);
  for (int l = 0; l < n; ++l) {
    const LayerAnalysis& a = result.layers[static_cast<size_t>(l)];
    auto* use = new QTableWidgetItem;
    use->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
    use->setCheckState(Qt::Unchecked);
    setItem(l, kUse, use);
    const bool recommended =
        std::find(result.recommended.begin(), result.recommended.end(), l) != result.recommended.end();
    auto* layer = textItem(QStringLiteral("%1%2 %3")
                               .arg(recommended ? QStringLiteral("★ ") : QString())
                               .arg(l)
                               .arg(QString::fromStdString(a.layer.name)));
    layer->setToolTip(QString::fromStdString(a.layer.kind));
    setItem(l, kLayer, layer);
    setItem(l, kShape, textItem(shapeText(a.layer.shape)));
    setItem(l, kS, numberItem(a.scores.separation));
    setItem(l, kI, numberItem(a.scores.information));
    setItem(l, kE, numberItem(a.scores.efficiency));
    auto* q = numberItem(a.scores.quality);
    if (recommended) {
      QFont bold = font();
      bold.setBold(true);
      q->setFont(bold);
    }
    setItem(l, kQ, q);
    setItem(l, kTwoNN, numberItem(a.twonn_id, 3));
    setItem(l, kPcaId, a.pca_id >= 0 ? numberItem(static_cast<double>(a.pca_id)) : textItem("–"));
    setItem(l, kNcc, numberItem(100.0 * a.ncc_accuracy, 3));
  }
  updating_ = false;
}

void LayerScoresTable::clearAnalysis() {
  updating_ = true;
  setRowCount(0);
  updating_ = false;
}

void LayerScoresTable::setSelectedLayers(const QVector<int>& layers) {
  updating_ = true;
  for (int r = 0; r < rowCount(); ++r) {
    if (QTableWidgetItem* use = item(r, kUse)) {
      use->setCheckState(layers.contains(r) ? Qt::Checked : Qt::Unchecked);
    }
  }
  updating_ = false;
}

}  // namespace kd::ui
