#pragma once
#include <QWidget>

namespace kd::ui {

class ModelPanel;

/// The Models page: teacher and student side by side, each with its generalized layers.
class ModelsPage : public QWidget {
  Q_OBJECT

 public:
  explicit ModelsPage(QWidget* parent = nullptr);
  ModelPanel* teacher() const { return teacher_; }
  ModelPanel* student() const { return student_; }

 signals:
  /// The user wants to train the teacher model first (it is an untrained zoo model).
  void trainTeacherRequested();

 private:
  ModelPanel* teacher_;
  ModelPanel* student_;
};

}  // namespace kd::ui
