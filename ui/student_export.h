#pragma once
#include <QString>

class QWidget;

namespace kd::ui {

/// Asks where to save the final student of a finished run (first seed) and writes it with
/// kd::export_student: a .kdmodel/.safetensors file for zoo students, a TorchScript .pt for
/// students imported from TorchScript. Returns the path written, or an empty string when the
/// user cancelled; throws nothing: `error` receives the reason on failure.
QString exportStudentInteractive(QWidget* parent, const QString& runDir, QString* error);

/// The export format a run's student needs: "torchscript" when its seed folders hold
/// student.pt, otherwise "safetensors".
QString studentExportFormat(const QString& runDir);

}  // namespace kd::ui
