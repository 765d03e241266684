#pragma once
#include <qcustomplot.h>

#include <QVector>
#include <vector>

namespace kd::ui {

/// Linear CKA between every teacher layer (rows, top to bottom) and every student layer
/// (columns) as a color map on a fixed 0..1 scale, with the value written in each cell when
/// the cells are large enough and the chosen teacher-student pairs outlined.
class CkaHeatmap : public QCustomPlot {
  Q_OBJECT

 public:
  explicit CkaHeatmap(QWidget* parent = nullptr);

  /// Shows a matrix: matrix[t][s] = CKA(teacher layer t, student layer s).
  void setMatrix(const std::vector<std::vector<double>>& matrix);
  /// Removes the map and shows `hint`.
  void clearMatrix(const QString& hint);
  /// Fades the map and shows `hint` (the models or the data changed since it was computed).
  void setStale(const QString& hint);
  /// Outlines the cells (teacher[i], student[i]).
  void setPairs(const QVector<int>& teacher, const QVector<int>& student);

  int rows() const { return rows_; }
  int columns() const { return cols_; }
  /// rows * columns (0 when empty).
  int cellCount() const { return rows_ * cols_; }
  /// The value drawn in a cell (from the color map's data).
  double value(int teacherLayer, int studentLayer) const;
  QCPColorMap* colorMap() const { return map_; }
  /// Number of cells whose value is written in them (0 when they are too small).
  int visibleLabelCount() const;

 private:
  void updateLabels();
  void setHint(const QString& hint);

  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPItemText* hint_ = nullptr;
  QList<QCPItemText*> labels_;
  QList<QCPItemRect*> outlines_;
  QVector<int> pairT_, pairS_;
  int rows_ = 0, cols_ = 0;
};

}  // namespace kd::ui
