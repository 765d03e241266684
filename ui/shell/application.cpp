#include "shell/application.h"

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QIcon>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QRegularExpression>
#include <QSettings>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtEndian>
#include <cstring>
#include <iostream>
#include <optional>

#include "shell/app_theme.h"
#include "common/allocator.h"
#include "common/device.h"
#include "common/version.h"
#include "pages/experiments_page.h"
#include "sweep/sweep_folder.h"
#include "pages/sweep_panel.h"
#include "shell/guided_tour.h"
#include "shell/main_window.h"
#include "pages/model_panel.h"
#include "pages/models_page.h"
#include "pages/training_page.h"

// resources/resources.qrc is compiled into the static kdui library: register it explicitly, or
// the linker drops it. Q_INIT_RESOURCE must be used outside any namespace.
static void initResources() { Q_INIT_RESOURCE(resources); }

namespace kd::ui {

namespace {

/// Handles --version and --help before Qt needs a display. Returns true when handled.
bool handleInfoOptions(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-v") == 0) {
      std::cout << "kdstudio " << version() << " (" << library_versions() << ", Qt "
                << qVersion() << ")\n";
      return true;
    }
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::cout
          << "Usage: kdstudio [--version] [--help] [--empty] [--defaults] [--tour DIR]\n"
             "               [EXPERIMENT.json | MODEL.kdmodel | MODEL.pt | CHECKPOINT | RUN_DIR |\n"
             "                SWEEP_DIR]\n"
             "               [Qt options]\n"
             "KD Studio, the desktop application for interactive knowledge distillation.\n"
             "  EXPERIMENT.json  open this experiment file\n"
             "  MODEL.kdmodel, MODEL.pt\n"
             "                   load this model file (ours, or TorchScript) as the teacher\n"
             "  CHECKPOINT       a training checkpoint, RUN_DIR/seed-N/checkpoint.safetensors:\n"
             "                   open its run (below)\n"
             "  RUN_DIR          a run folder (or one of its seed-N folders): open the run's\n"
             "                   config.json as the experiment and list the runs next to it\n"
             "                   on the Experiments page, with this run selected\n"
             "  SWEEP_DIR        a sweep folder (kdstudio-cli sweep, study layers): show it on\n"
             "                   the Experiments page's Sweeps tab\n"
             "  --empty          start without loading any dataset or model\n"
             "  --defaults       start from the embedded default (Fashion-MNIST, the\n"
             "                   bundled teacher, a small student), not the last session\n"
             "  --tour DIR       drive the app through the default workflow and save a\n"
             "                   screenshot of each page to DIR, then quit (settings and\n"
             "                   runs go to temporary folders)\n"
             "Examples:\n"
             "  kdstudio                      reopen the last session\n"
             "  kdstudio --defaults           Fashion-MNIST, bundled teacher, small student\n"
             "  kdstudio my-experiment.json   open an experiment saved from the app\n"
             "  kdstudio student.kdmodel      inspect a distilled model as the teacher\n"
             "  kdstudio runs/ours-1a2b3c4d   open a training run and compare it with the\n"
             "                                other runs in runs/\n"
             "  kdstudio runs/ours-1a2b3c4d/seed-0/checkpoint.safetensors   the same\n"
             "For headless use see kdstudio-cli --help; the manual: man kdstudio.\n";
      return true;
    }
  }
  return false;
}

struct Options {
  bool empty = false;
  bool defaults = false;
  QString tourDir;
  std::optional<LaunchTarget> open;   // the last file or folder given that is not a model
  std::optional<LaunchTarget> model;  // the last model file given: loaded as the teacher
};

Options parseOptions(const QStringList& args) {
  Options o;
  for (int i = 1; i < args.size(); ++i) {
    if (args[i] == "--empty") {
      o.empty = true;
    } else if (args[i] == "--defaults") {
      o.defaults = true;
    } else if (args[i] == "--tour" && i + 1 < args.size()) {
      o.tourDir = args[++i];
    } else if (!args[i].startsWith('-')) {
      LaunchTarget t = classifyLaunchArgument(args[i]);
      (t.kind == LaunchTarget::Kind::kModel ? o.model : o.open) = std::move(t);
    }
  }
  return o;
}

/// Safetensors headers are JSON; ours are a few kB (a checkpoint's history grows with the epochs).
constexpr quint64 kMaxHeaderBytes = quint64{64} << 20;

const QRegularExpression& seedFolderName() {
  static const QRegularExpression re(QStringLiteral("^seed-[0-9]+$"));
  return re;
}

/// A run folder holds the experiment as given and as resolved, both written when training creates
/// it (docs/run-folders.md).
bool isRunFolder(const QDir& dir) {
  return QFileInfo(dir.filePath(QStringLiteral("config.json"))).isFile() &&
         QFileInfo(dir.filePath(QStringLiteral("resolved.json"))).isFile();
}

LaunchTarget runTarget(const QDir& runDir) {
  LaunchTarget t;
  t.kind = LaunchTarget::Kind::kRun;
  t.runDir = QDir::cleanPath(runDir.absolutePath());
  t.path = QDir(t.runDir).filePath(QStringLiteral("config.json"));
  t.runsRoot = QFileInfo(t.runDir).absolutePath();
  return t;
}

LaunchTarget errorTarget(const QString& message) {
  LaunchTarget t;
  t.kind = LaunchTarget::Kind::kError;
  t.error = message;
  return t;
}

}  // namespace

QString safetensorsFormat(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  uchar lengthBytes[8];
  if (file.read(reinterpret_cast<char*>(lengthBytes), 8) != 8) return {};
  const quint64 length = qFromLittleEndian<quint64>(lengthBytes);
  const quint64 size = static_cast<quint64>(file.size());
  if (length < 2 || length > kMaxHeaderBytes || length > size - 8) return {};
  const QByteArray header = file.read(static_cast<qint64>(length));
  if (static_cast<quint64>(header.size()) != length || !header.startsWith('{')) return {};
  const QJsonDocument doc = QJsonDocument::fromJson(header);
  if (!doc.isObject()) return {};
  return doc.object()
      .value(QStringLiteral("__metadata__"))
      .toObject()
      .value(QStringLiteral("format"))
      .toString();
}

LaunchTarget classifyLaunchArgument(const QString& arg) {
  const QFileInfo info(arg);
  const QString shown = QDir::toNativeSeparators(arg);
  if (info.isDir()) {
    const QDir dir(info.absoluteFilePath());
    if (isRunFolder(dir)) return runTarget(dir);
    if (is_sweep_folder(dir.absolutePath().toStdString())) {
      LaunchTarget t;
      t.kind = LaunchTarget::Kind::kSweep;
      t.path = QDir::cleanPath(dir.absolutePath());
      return t;
    }
    QDir parent = dir;
    if (seedFolderName().match(info.fileName()).hasMatch() && parent.cdUp() &&
        isRunFolder(parent)) {
      return runTarget(parent);
    }
    return errorTarget(
        QObject::tr("%1 is a folder, but not a KD Studio run folder (it has no config.json and "
                    "resolved.json) nor a sweep folder (no points.json). A run folder is <runs folder>/<name>-<hash>, as written by "
                    "training; to list all the runs of a folder, choose it as the runs folder "
                    "on the Experiments page.")
            .arg(shown));
  }
  const QString suffix = info.suffix().toLower();
  if (suffix == QLatin1String("kdmodel") || suffix == QLatin1String("pt") ||
      suffix == QLatin1String("pth")) {
    LaunchTarget t;
    t.kind = LaunchTarget::Kind::kModel;
    t.path = info.absoluteFilePath();
    return t;
  }
  const bool safetensorsName = suffix == QLatin1String("safetensors");
  if (info.isFile() && (safetensorsName || suffix != QLatin1String("json"))) {
    const QString format = safetensorsFormat(info.absoluteFilePath());
    if (format == QLatin1String("kdstudio-model")) {
      LaunchTarget t;
      t.kind = LaunchTarget::Kind::kModel;
      t.path = info.absoluteFilePath();
      return t;
    }
    if (format == QLatin1String("kdstudio-checkpoint")) {
      QDir seedDir = info.absoluteDir();  // <run>/seed-N
      QDir runDir = seedDir;
      if (runDir.cdUp() && isRunFolder(runDir)) return runTarget(runDir);
      if (isRunFolder(seedDir)) return runTarget(seedDir);
      return errorTarget(
          QObject::tr("%1 is a KD Studio training checkpoint, but not inside a run "
                      "folder: %2 has no config.json and resolved.json. A checkpoint opens "
                      "its run, <runs folder>/<name>-<hash>/seed-N/%3.")
              .arg(shown, QDir::toNativeSeparators(runDir.absolutePath()),
                   QStringLiteral("checkpoint.safetensors")));
    }
  }
  if (safetensorsName) {
    if (!info.exists()) return errorTarget(QObject::tr("%1 does not exist.").arg(shown));
    return errorTarget(QObject::tr("%1 is neither a KD Studio training checkpoint nor a KD Studio "
                                   "model file: its safetensors metadata has no \"format\" of "
                                   "\"kdstudio-checkpoint\" or \"kdstudio-model\".")
                           .arg(shown));
  }
  const QString name = info.fileName();
  if (info.isFile() &&
      (name == QLatin1String("config.json") || name == QLatin1String("resolved.json")) &&
      isRunFolder(info.absoluteDir())) {
    LaunchTarget t = runTarget(info.absoluteDir());
    t.path = info.absoluteFilePath();
    return t;
  }
  LaunchTarget t;
  t.kind = LaunchTarget::Kind::kExperiment;
  t.path = info.absoluteFilePath();
  return t;
}

QString openLaunchTarget(MainWindow& window, const LaunchTarget& target) {
  switch (target.kind) {
    case LaunchTarget::Kind::kExperiment:
      return window.openExperiment(target.path);
    case LaunchTarget::Kind::kModel:
      window.modelsPage()->teacher()->loadSpec(target.path);
      return {};
    case LaunchTarget::Kind::kRun: {
      const QString error = window.openExperiment(target.path);  // reports a bad file itself
      if (!error.isEmpty()) return error;
      ExperimentsPage* page = window.experimentsPage();
      // Select the run once the background scan of its runs folder has listed it.
      auto* once = new QObject(page);
      const QString wanted = QFileInfo(target.runDir).canonicalFilePath();
      QObject::connect(page, &ExperimentsPage::statusMessage, once, [page, once, wanted] {
        if (page->isScanning()) return;
        for (int row = 0; row < page->runCount(); ++row) {
          if (QFileInfo(page->runDirAt(row)).canonicalFilePath() == wanted) {
            page->selectRows({row});
            break;
          }
        }
        QObject::disconnect(page, nullptr, once, nullptr);
        once->deleteLater();
      });
      page->setRunsRoot(target.runsRoot);
      window.tabs()->setCurrentWidget(page);
      return {};
    }
    case LaunchTarget::Kind::kSweep: {
      window.tabs()->setCurrentWidget(window.experimentsPage());
      window.experimentsPage()->showSweeps();
      return window.experimentsPage()->sweepPanel()->openSweep(target.path);  // shown on the tab
    }
    case LaunchTarget::Kind::kError:
      break;
  }
  QMessageBox::warning(&window, QObject::tr("Cannot open"), target.error);
  return target.error;
}

int runApplication(int argc, char** argv) {
  if (handleInfoOptions(argc, argv)) return 0;
  QApplication app(argc, argv);  // removes the Qt options it knows from the arguments
  QApplication::setApplicationName(QStringLiteral("KD Studio"));
  QApplication::setOrganizationName(QStringLiteral("KDStudio"));
  QApplication::setApplicationVersion(QString::fromStdString(version()));
  initResources();
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/kdstudio/icons/kdstudio.svg")));
  QGuiApplication::setDesktopFileName(QStringLiteral("io.github.kdstudio.kdstudio"));
  const Options options = parseOptions(QApplication::arguments());
  std::optional<QTemporaryDir> tourSettings;
  if (!options.tourDir.isEmpty()) {  // the tour must neither read nor change the user's settings
    tourSettings.emplace();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, tourSettings->path());
    QSettings::setDefaultFormat(QSettings::NativeFormat);
  }
  tune_allocator();
  configure_threads(0);
  applyTheme(QSettings().value("view/theme", "system").toString());
  MainWindow window;
  window.show();
  if (!options.tourDir.isEmpty() || options.defaults) {
    window.loadDefaults();
  } else if (!options.empty) {
    window.loadLastSession();
  }
  if (options.open) {
    // Also on stderr, for a start from a terminal: before the message box, which waits.
    const bool refused = options.open->kind == LaunchTarget::Kind::kError;
    if (refused) std::cerr << "kdstudio: " << options.open->error.toStdString() << "\n";
    const QString error = openLaunchTarget(window, *options.open);
    if (!error.isEmpty() && !refused) std::cerr << "kdstudio: " << error.toStdString() << "\n";
  }
  if (options.model) openLaunchTarget(window, *options.model);
  if (options.tourDir.isEmpty()) return app.exec();

  GuidedTour::Options tourOptions;
  tourOptions.prefix = qEnvironmentVariable("KD_TOUR_PREFIX");
  GuidedTour tour(&window, options.tourDir, tourOptions);
  int exitCode = 0;
  QObject::connect(&tour, &GuidedTour::finished, &app, [&](int code) {
    exitCode = code;
    window.trainingPage()->stop();
    window.trainingPage()->waitForStopped(60000);
    QApplication::exit(code);
  });
  tour.start();
  app.exec();
  return exitCode;
}

}  // namespace kd::ui
