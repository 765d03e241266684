#include "application.h"

#include <QApplication>
#include <QMainWindow>

namespace kd::ui {

int runApplication(int argc, char** argv) {
  QApplication app(argc, argv);
  QMainWindow w;
  w.show();
  return app.exec();
}

}  // namespace kd::ui
