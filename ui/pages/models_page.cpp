#include "pages/models_page.h"

#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include "pages/model_panel.h"
#include "models/model_loader.h"

namespace kd::ui {

ModelsPage::ModelsPage(QWidget* parent) : QWidget(parent) {
  teacher_ = new ModelPanel(tr("Teacher"));
  student_ = new ModelPanel(tr("Student"));
  auto* hint = new QLabel(
      tr("Choose a trained teacher and a small student. Each model is shown as its "
         "<i>generalized layers</i>: the units whose outputs the layer analysis scores and the "
         "feature losses distill between. Drop a TorchScript <tt>.pt</tt> or a "
         "<tt>.kdmodel</tt> file on either side to open it."));
  hint->setWordWrap(true);
  auto* trainTeacher = new QPushButton(tr("Train this teacher first…"));
  trainTeacher->setObjectName(QStringLiteral("trainTeacher"));
  trainTeacher->setToolTip(
      tr("Train the teacher above on the current dataset with cross entropy (the same engine "
         "as kdstudio-cli train), then use the result as the teacher"));
  connect(trainTeacher, &QPushButton::clicked, this, &ModelsPage::trainTeacherRequested);
  trainTeacher->setEnabled(false);
  // Only a zoo model built here has fresh weights to train; a model file is trained already.
  connect(teacher_, &ModelPanel::modelLoaded, trainTeacher, [this, trainTeacher] {
    trainTeacher->setEnabled(teacher_->model() && teacher_->model()->origin == ModelOrigin::kZoo);
  });
  auto* teacherSide = new QWidget;
  auto* teacherLayout = new QVBoxLayout(teacherSide);
  teacherLayout->setContentsMargins(0, 0, 0, 0);
  teacherLayout->addWidget(teacher_, 1);
  teacherLayout->addWidget(trainTeacher, 0, Qt::AlignLeft);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(teacherSide);
  split->addWidget(student_);
  split->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(hint);
  layout->addWidget(split, 1);
}

}  // namespace kd::ui
