#include "application.h"

#include <QApplication>
#include <cstring>
#include <iostream>

#include "common/device.h"
#include "common/version.h"
#include "main_window.h"

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
      std::cout << "Usage: kdstudio [--version] [--help] [--empty] [Qt options]\n"
                   "KD Studio, the desktop application for interactive knowledge distillation.\n"
                   "  --empty    start without loading the default dataset and models\n"
                   "For headless use see kdstudio-cli --help.\n";
      return true;
    }
  }
  return false;
}

}  // namespace

int runApplication(int argc, char** argv) {
  if (handleInfoOptions(argc, argv)) return 0;
  bool empty = false;
  for (int i = 1; i < argc; ++i) empty = empty || std::strcmp(argv[i], "--empty") == 0;
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("KD Studio"));
  QApplication::setOrganizationName(QStringLiteral("KDStudio"));
  QApplication::setApplicationVersion(QString::fromStdString(version()));
  configure_threads(0);
  MainWindow window;
  window.show();
  if (!empty) window.loadDefaults();
  return app.exec();
}

}  // namespace kd::ui
