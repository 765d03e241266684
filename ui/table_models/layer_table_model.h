#pragma once
#include <QAbstractTableModel>
#include <vector>

#include "models/layered_model.h"

namespace kd::ui {

/// Table model over a model's generalized layers: index, name, kind, output shape, parameters.
class LayerTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { kIndex, kName, kKind, kShape, kParams, kColumnCount };
  using QAbstractTableModel::QAbstractTableModel;

  /// Replaces the rows.
  void setLayers(std::vector<LayerInfo> layers);
  /// Removes every row.
  void clear() { setLayers({}); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::vector<LayerInfo> layers_;
};

/// "64x28x28" from a shape.
QString shapeText(const std::vector<int64_t>& shape);
/// "4.90 M", "12.3 k" or "704".
QString compactCount(long long n);

}  // namespace kd::ui
