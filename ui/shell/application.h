#pragma once
#include <QString>

namespace kd::ui {

class MainWindow;

/// What a file or folder named on kdstudio's command line (or opened from a file manager through
/// the desktop file's MIME types) is, and how the app opens it.
struct LaunchTarget {
  enum class Kind {
    kExperiment,  ///< an experiment file (or anything else): opened as an experiment
    kModel,       ///< a model file (.kdmodel, TorchScript .pt/.pth, or our safetensors model)
    kRun,         ///< a run folder, one of its seed-N folders, its checkpoint or its config.json
    kSweep,       ///< a sweep folder (its points.json): opened on the Experiments page's Sweeps tab
    kError,       ///< a folder or safetensors file that is neither: `error` says why
  };
  Kind kind = Kind::kError;
  QString path;      ///< the file to open (absolute); kRun: the run's config.json (resolved.json
                     ///< when that was given)
  QString runDir;    ///< kRun: the run folder, <runs>/<name>-<hash>
  QString runsRoot;  ///< kRun: the folder that holds the run folder
  QString error;     ///< kError: the reason, naming the path
};

/// Classifies a command-line argument:
/// - a folder with a config.json and a resolved.json is a run folder; a seed-N folder inside one
///   opens that run; any other folder is an error;
/// - *.kdmodel, *.pt, *.pth, and safetensors files whose metadata "format" is "kdstudio-model",
///   are models;
/// - a safetensors file whose metadata "format" is "kdstudio-checkpoint" (whatever its name;
///   normally <run>/seed-N/checkpoint.safetensors) opens its run; outside a run folder it is an
///   error, as is any other *.safetensors file;
/// - the config.json or resolved.json of a run folder opens that run;
/// - anything else is an experiment file (MainWindow::openExperiment reports what is wrong with
///   it).
LaunchTarget classifyLaunchArgument(const QString& arg);

/// The "format" entry of a safetensors file's __metadata__ ("kdstudio-checkpoint",
/// "kdstudio-model", ...), or "" when `path` is not a readable safetensors file or has none.
/// Reads only the header.
QString safetensorsFormat(const QString& path);

/// Opens `target` in `window`: an experiment with MainWindow::openExperiment; a model as the
/// teacher; a run by opening its config.json as the experiment, pointing the Experiments page at
/// the folder that holds the run, selecting the run there once it is listed, and showing that
/// page. An error is shown in a message box. Returns the error, or "".
QString openLaunchTarget(MainWindow& window, const LaunchTarget& target);

/// Creates the QApplication and main window, handles --version and --help, opens the file or
/// folder given on the command line, runs the event loop.
int runApplication(int argc, char** argv);

}  // namespace kd::ui
