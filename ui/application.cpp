#include "application.h"

#include <QApplication>
#include <QFileInfo>
#include <QIcon>
#include <QSettings>
#include <QTemporaryDir>
#include <cstring>
#include <iostream>
#include <optional>

#include "app_theme.h"
#include "common/allocator.h"
#include "common/device.h"
#include "common/version.h"
#include "guided_tour.h"
#include "main_window.h"
#include "model_panel.h"
#include "models_page.h"
#include "training_page.h"

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
      std::cout << "Usage: kdstudio [--version] [--help] [--empty] [--defaults] [--tour DIR]\n"
                   "               [EXPERIMENT.json | MODEL.kdmodel | MODEL.pt] [Qt options]\n"
                   "KD Studio, the desktop application for interactive knowledge distillation.\n"
                   "  EXPERIMENT.json  open this experiment file\n"
                   "  MODEL.kdmodel, MODEL.pt\n"
                   "                   load this model file (ours, or TorchScript) as the teacher\n"
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
  QString experiment;
  QString model;  // a .kdmodel or .pt file given on the command line: loaded as the teacher
};

Options parseOptions(const QStringList& args) {
  Options o;
  for (int i = 1; i < args.size(); ++i) {
    if (args[i] == "--empty") o.empty = true;
    else if (args[i] == "--defaults") o.defaults = true;
    else if (args[i] == "--tour" && i + 1 < args.size()) o.tourDir = args[++i];
    else if (args[i].endsWith(".kdmodel", Qt::CaseInsensitive) || args[i].endsWith(".pt", Qt::CaseInsensitive))
      o.model = QFileInfo(args[i]).absoluteFilePath();
    else if (!args[i].startsWith('-')) o.experiment = args[i];
  }
  return o;
}

}  // namespace

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
  if (!options.experiment.isEmpty()) window.openExperiment(options.experiment);
  if (!options.model.isEmpty()) window.modelsPage()->teacher()->loadSpec(options.model);
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
