#include "jobs/student_export.h"

#include <QDir>
#include <QDirIterator>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>

#include "deploy/student_export.h"
#include "shell/guarded_call.h"

namespace kd::ui {

QString studentExportFormat(const QString& runDir) {
  QDirIterator it(runDir, {QStringLiteral("student.pt")}, QDir::Files, QDirIterator::Subdirectories);
  return it.hasNext() ? QStringLiteral("torchscript") : QStringLiteral("safetensors");
}

QString askStudentExportPath(QWidget* parent, const QString& runDir) {
  const bool script = studentExportFormat(runDir) == QLatin1String("torchscript");
  QSettings settings;
  const QString suggested =
      QDir(settings.value("export/dir", QDir::homePath()).toString())
          .filePath(QFileInfo(runDir).fileName() + (script ? "-student.pt" : "-student.kdmodel"));
  const QString onnxFilter = QObject::tr("ONNX, for inference runtimes (*.onnx)");
  QString chosenFilter;
  QString path = QFileDialog::getSaveFileName(
      parent, QObject::tr("Export the distilled student"), suggested,
      (script ? QObject::tr("TorchScript (*.pt)") : QObject::tr("KD Studio model, safetensors (*.kdmodel *.safetensors)")) +
          ";;" + onnxFilter,
      &chosenFilter);
  // The ONNX filter chosen with the suggested .kdmodel or .pt name: the file becomes an .onnx one.
  if (!path.isEmpty() && chosenFilter == onnxFilter && !path.endsWith(QLatin1String(".onnx"), Qt::CaseInsensitive)) {
    path = QFileInfo(path).dir().filePath(QFileInfo(path).completeBaseName() + ".onnx");
  }
  if (!path.isEmpty()) settings.setValue("export/dir", QFileInfo(path).absolutePath());
  return path;
}

QString exportStudentTo(const QString& runDir, const QString& path) {
  StudentExportOptions options;
  options.format = studentExportFormat(runDir).toStdString();
  if (path.endsWith(QLatin1String(".onnx"), Qt::CaseInsensitive)) {
    options.format = "onnx";
  }
  return runGuarded([&] { export_student(runDir.toStdString(), path.toStdString(), options); });
}

}  // namespace kd::ui
