#include "jobs/run_files.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QSaveFile>

#include "common/child_process.h"
#include "shell/guarded_call.h"

namespace kd::ui {

RunScan scanRuns(const QString& root) {
  RunScan r;
  r.root = root;
  r.error = runGuarded([&] {
    r.runs = list_runs(root.toStdString());
    r.watch << root;
    for (const RunSummary& s : r.runs) {
      r.watch << QString::fromStdString(s.run_dir);
      if (s.complete) continue;  // finished runs change no more
      try {
        for (const auto& d : seed_dirs(s.run_dir)) r.watch << QString::fromStdString(d);
      } catch (const std::exception&) {
        // Its status says why it cannot be read.
      }
    }
  });
  return r;
}

QString writeEpochsCsv(const QString& runDir, const QString& path) {
  std::string csv;
  const QString error = runGuarded([&] { csv = epochs_csv(runDir.toStdString()); });
  if (!error.isEmpty()) return error;
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) ||
      file.write(csv.data(), static_cast<qint64>(csv.size())) < 0 || !file.commit()) {
    return QCoreApplication::translate("kd::ui::ExperimentsPage", "could not write %1: %2")
        .arg(path, file.errorString());
  }
  return {};
}

QString kdstudioCliPath() {
  const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("kdstudio-cli"));
  if (QFileInfo(beside).isExecutable()) return beside;
  return QString::fromStdString(find_program("kdstudio-cli"));
}

}  // namespace kd::ui
