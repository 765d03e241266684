// kdstudio-cli: the headless twin of the desktop app. All work lives in app/cli and core.
#include "cli_app.h"

int main(int argc, char** argv) { return kd::cli::run(argc, argv); }
