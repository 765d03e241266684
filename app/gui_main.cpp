// kdstudio: the desktop application. All work lives in ui/ and core/.
#include "shell/application.h"

int main(int argc, char** argv) { return kd::ui::runApplication(argc, argv); }
