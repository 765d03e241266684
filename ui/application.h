#pragma once

namespace kd::ui {

/// Creates the QApplication and main window, handles --version, runs the event loop.
int runApplication(int argc, char** argv);

}  // namespace kd::ui
