#include "cli_app.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "common/error.h"
#include "common/version.h"

namespace kd::cli {

int run(int argc, char** argv) {
  CLI::App app{"KD Studio command-line tool: knowledge distillation without a display"};
  app.set_version_flag("--version", "kdstudio-cli " + kd::version() + " (" + kd::library_versions() + ")");
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

}  // namespace kd::cli
