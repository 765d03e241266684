#include "table_models/layer_table_model.h"

#include <QBrush>
#include <QLocale>
#include <QPalette>

namespace kd::ui {

QString shapeText(const std::vector<int64_t>& shape) {
  QStringList parts;
  for (int64_t d : shape) parts << QString::number(d);
  return parts.join(QStringLiteral("\u00d7"));
}

QString compactCount(long long n) {
  if (n >= 1000000) return QString::number(n / 1e6, 'f', 2) + QStringLiteral(" M");
  if (n >= 10000) return QString::number(n / 1e3, 'f', 1) + QStringLiteral(" k");
  return QString::number(n);
}

void LayerTableModel::setLayers(std::vector<LayerInfo> layers) {
  beginResetModel();
  layers_ = std::move(layers);
  endResetModel();
}

int LayerTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(layers_.size());
}

int LayerTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

QVariant LayerTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const LayerInfo& l = layers_[static_cast<size_t>(index.row())];
  if (role == Qt::DisplayRole) {
    switch (index.column()) {
      case kIndex:
        return l.index;
      case kName:
        return QString::fromStdString(l.name);
      case kKind:
        return QString::fromStdString(l.kind);
      case kShape:
        return shapeText(l.shape);
      case kParams:
        return QLocale().toString(static_cast<qlonglong>(l.params));
      default:
        return {};
    }
  }
  if (role == Qt::TextAlignmentRole && (index.column() == kIndex || index.column() == kParams)) {
    return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
  }
  if (role == Qt::ToolTipRole) {
    return tr("Generalized layer %1 (%2): output %3, %4 parameters%5")
        .arg(l.index)
        .arg(QString::fromStdString(l.kind), shapeText(l.shape), QLocale().toString(static_cast<qlonglong>(l.params)),
             l.in_head ? tr(", part of the head") : QString());
  }
  if (role == Qt::ForegroundRole && l.in_head) {
    return QPalette().brush(QPalette::Disabled, QPalette::Text);
  }
  return {};
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kIndex:
      return tr("#");
    case kName:
      return tr("Name");
    case kKind:
      return tr("Kind");
    case kShape:
      return tr("Output shape");
    case kParams:
      return tr("Parameters");
    default:
      return {};
  }
}

}  // namespace kd::ui
