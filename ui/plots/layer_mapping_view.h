#pragma once
#include <QVector>
#include <QWidget>
#include <vector>

#include "models/layered_model.h"

namespace kd::ui {

/// The teacher-student layer mapping: the teacher's generalized layers as a row of boxes on
/// top, the student's below, the chosen ones filled, recommended teacher layers starred, and a
/// link from the i-th chosen teacher layer to the i-th chosen student layer (the one-to-one
/// pairing the methods use). Clicking a box emits teacherLayerClicked / studentLayerClicked.
class LayerMappingView : public QWidget {
  Q_OBJECT

 public:
  explicit LayerMappingView(QWidget* parent = nullptr);

  /// The models' layers (empty when a model is not loaded).
  void setTeacherLayers(std::vector<LayerInfo> layers);
  void setStudentLayers(std::vector<LayerInfo> layers);
  /// The chosen layers (ascending) and the recommended teacher layers.
  void setSelection(const QVector<int>& teacher, const QVector<int>& student);
  void setRecommended(const QVector<int>& teacher);

  /// Where a box is drawn (empty rect when out of range); for tests.
  QRect teacherBox(int layer) const { return box(true, layer); }
  QRect studentBox(int layer) const { return box(false, layer); }
  /// Number of links drawn: min(chosen teacher layers, chosen student layers).
  int linkCount() const;

  QSize sizeHint() const override { return {560, 170}; }
  QSize minimumSizeHint() const override { return {260, 130}; }

 signals:
  void teacherLayerClicked(int layer);
  void studentLayerClicked(int layer);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  bool event(QEvent* event) override;

 private:
  QRect box(bool teacher, int layer) const;
  /// (true = teacher, layer) under a point; layer -1 when none.
  std::pair<bool, int> hit(const QPoint& pos) const;
  void paintRow(QPainter& p, bool teacher);

  std::vector<LayerInfo> teacher_, student_;
  QVector<int> chosenTeacher_, chosenStudent_, recommended_;
};

}  // namespace kd::ui
