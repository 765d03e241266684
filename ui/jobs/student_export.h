#pragma once
#include <QString>

class QWidget;

namespace kd::ui {

/// Asks where to save the final student of a finished run (first seed), suggesting a name in
/// the folder used last. Returns the chosen path, or an empty string when the user cancelled.
QString askStudentExportPath(QWidget* parent, const QString& runDir);

/// Writes the final student of the finished run `runDir` (first seed) to `path` with
/// kd::export_student: a .kdmodel/.safetensors file (or ONNX when `path` ends in .onnx) for zoo
/// students, a TorchScript .pt for students imported from TorchScript; each with its
/// preprocessing and class names. Returns the error, or an empty string. Throws nothing;
/// safe on any thread (the Experiments page calls it on a worker).
QString exportStudentTo(const QString& runDir, const QString& path);

/// The export format a run's student needs: "torchscript" when its seed folders hold
/// student.pt, otherwise "safetensors".
QString studentExportFormat(const QString& runDir);

}  // namespace kd::ui
