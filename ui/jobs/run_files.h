#pragma once
#include <QString>
#include <QStringList>
#include <vector>

#include "experiment/run_store.h"

namespace kd::ui {

/// A runs folder as listed by a background scan.
struct RunScan {
  QString root;
  std::vector<RunSummary> runs;  ///< newest first
  QString error;                 ///< why the folder could not be listed, or empty
  QStringList watch;  ///< folders to watch for changes: the root, the runs, unfinished seeds
};

/// Lists the runs under `root` (kd::list_runs); never throws. Meant for a worker thread.
RunScan scanRuns(const QString& root);

/// Writes a run's per-epoch metrics (kd::epochs_csv) to `path`, atomically; returns the error
/// or an empty string.
QString writeEpochsCsv(const QString& runDir, const QString& path);

/// The kdstudio-cli beside this program, else the one on the PATH; empty when there is none.
QString kdstudioCliPath();

}  // namespace kd::ui
