#include "student_export.h"

#include <QDir>
#include <QDirIterator>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>

#include "experiment/experiment_runner.h"
#include "guarded_call.h"

namespace kd::ui {

QString studentExportFormat(const QString& runDir) {
  QDirIterator it(runDir, {QStringLiteral("student.pt")}, QDir::Files, QDirIterator::Subdirectories);
  return it.hasNext() ? QStringLiteral("torchscript") : QStringLiteral("safetensors");
}

QString exportStudentInteractive(QWidget* parent, const QString& runDir, QString* error) {
  const QString format = studentExportFormat(runDir);
  const bool script = format == "torchscript";
  QSettings settings;
  const QString suggested =
      QDir(settings.value("export/dir", QDir::homePath()).toString())
          .filePath(QFileInfo(runDir).fileName() + (script ? "-student.pt" : "-student.kdmodel"));
  const QString path = QFileDialog::getSaveFileName(
      parent, QObject::tr("Export the distilled student"), suggested,
      script ? QObject::tr("TorchScript (*.pt)")
             : QObject::tr("KD Studio model, safetensors (*.kdmodel *.safetensors)"));
  if (path.isEmpty()) return {};
  settings.setValue("export/dir", QFileInfo(path).absolutePath());
  const QString e = runGuarded(
      [&] { export_student(runDir.toStdString(), format.toStdString(), path.toStdString()); });
  if (!e.isEmpty()) {
    if (error) *error = e;
    return {};
  }
  return path;
}

}  // namespace kd::ui
