#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>

#include "common/device.h"
#include "common/version.h"
#include "models/bundled_models.h"
#include "data_page.h"
#include "model_panel.h"
#include "models_page.h"

namespace kd::ui {

QString MainWindow::defaultTeacher() {
  const std::string bundled = bundled_teacher_path();
  return QString::fromStdString(bundled.empty() ? std::string(kBundledTeacherSpec) : bundled);
}

QString MainWindow::defaultStudent() { return QString::fromLatin1(kDefaultStudentSpec); }

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("KD Studio"));
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  models_ = new ModelsPage;
  data_ = new DataPage;
  tabs_->addTab(models_, tr("&Models"));
  tabs_->addTab(data_, tr("&Data"));
  tabs_->setTabToolTip(0, tr("Teacher and student and their generalized layers"));
  tabs_->setTabToolTip(1, tr("The dataset: size, classes and sample images"));
  setCentralWidget(tabs_);
  buildMenus();

  device_ = new QLabel(QString::fromStdString(describe_device(resolve_device("auto"))));
  device_->setToolTip(tr("The device training and analysis will run on"));
  statusBar()->addPermanentWidget(device_);
  connect(models_->teacher(), &ModelPanel::modelLoaded, this, [this](const QString& a, int n) {
    statusBar()->showMessage(tr("Teacher %1: %2 generalized layers").arg(a).arg(n), 5000);
  });
  connect(models_->student(), &ModelPanel::modelLoaded, this, [this](const QString& a, int n) {
    statusBar()->showMessage(tr("Student %1: %2 generalized layers").arg(a).arg(n), 5000);
  });
  connect(data_, &DataPage::datasetLoaded, this, [this](const QString& name, qlonglong tr_, qlonglong te) {
    statusBar()->showMessage(tr("%1: %2 training, %3 test images").arg(name).arg(tr_).arg(te), 5000);
  });
  for (auto* panel : {models_->teacher(), models_->student()}) {
    connect(panel, &ModelPanel::loadFailed, this,
            [this](const QString& m) { statusBar()->showMessage(tr("Error: %1").arg(m), 10000); });
  }
  connect(data_, &DataPage::loadFailed, this,
          [this](const QString& m) { statusBar()->showMessage(tr("Error: %1").arg(m), 10000); });

  QSettings settings;
  if (!restoreGeometry(settings.value("window/geometry").toByteArray())) resize(1200, 760);
  tabs_->setCurrentIndex(settings.value("window/tab", 0).toInt());
}

void MainWindow::loadDefaults() {
  const QString teacher = defaultTeacher();
  if (!teacher.endsWith(QStringLiteral(".kdmodel"))) models_->teacher()->setZooControls(teacher);
  models_->teacher()->loadSpec(teacher);
  models_->student()->setZooControls(defaultStudent());
  models_->student()->loadSpec(defaultStudent());
  data_->loadSpec(QStringLiteral("fashion-mnist"));
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* openTeacher = file->addAction(tr("Open &teacher…"));
  openTeacher->setShortcut(QKeySequence::Open);
  openTeacher->setToolTip(tr("Open a teacher model file"));
  connect(openTeacher, &QAction::triggered, this, [this] {
    tabs_->setCurrentWidget(models_);
    models_->teacher()->findChild<QPushButton*>()->setFocus();
  });
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"));
  quit->setShortcut(QKeySequence::Quit);
  connect(quit, &QAction::triggered, this, &QWidget::close);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  QAction* about = help->addAction(tr("&About KD Studio"));
  connect(about, &QAction::triggered, this, &MainWindow::showAbout);
}

void MainWindow::showAbout() {
  QMessageBox::about(
      this, tr("About KD Studio"),
      tr("<h3>KD Studio %1</h3><p>Interactive knowledge distillation: feature-only distillation "
         "with teacher layers chosen by knowledge quality (Cooper et al., NeurReps 2025).</p>"
         "<p>Qt %2 · %3<br>Device: %4</p>")
          .arg(QString::fromStdString(version()), QString::fromUtf8(qVersion()),
               QString::fromStdString(library_versions()), device_->text()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/tab", tabs_->currentIndex());
  event->accept();
}

}  // namespace kd::ui
