#include "cli_app.h"

#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <opencv2/core.hpp>

#include "common/allocator.h"
#include "common/device.h"
#include "common/error.h"
#include "common/version.h"
#include "analysis_commands.h"
#include "data_command.h"
#include "deploy_commands.h"
#include "distributed_train.h"
#include "inspect_command.h"
#include "study_commands.h"
#include "sweep_commands.h"
#include "train_commands.h"

namespace kd::cli {

int run(int argc, char** argv) {
  remember_invocation(argc, argv);
  CLI::App app{"KD Studio command-line tool: knowledge distillation without a display.\n"
               "Run 'kdstudio-cli COMMAND --help' for a command's options and examples."};
  app.name("kdstudio-cli");
  app.set_version_flag("--version",
                       "kdstudio-cli " + kd::version() + " (" + kd::library_versions() + ")");
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for LibTorch (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.require_subcommand(1);
  int exit_code = 1;
  add_inspect_command(app, exit_code);
  add_data_command(app, exit_code);
  add_analysis_commands(app, exit_code);
  add_train_commands(app, exit_code);
  add_deploy_commands(app, exit_code);
  add_sweep_commands(app, exit_code);
  add_study_commands(app, exit_code);
  // After the subcommands: CLI11 copies the parent's footer into subcommands made later.
  app.footer(
      "Examples:\n"
      "  kdstudio-cli demo --epochs 2\n"
      "  kdstudio-cli inspect --model resnet9:channels=1,size=28,width=0.125\n"
      "  kdstudio-cli analyze --model teacher.kdmodel --data fashion-mnist\n"
      "  kdstudio-cli train --config my-experiment.json --device cuda\n"
      "  kdstudio-cli sweep run my-sweep.json --jobs 2\n"
      "See also: man kdstudio-cli, and the desktop app kdstudio.");
  app.parse_complete_callback([&threads]() {
    tune_allocator();
    if (threads == 0) threads = default_rank_threads();
    configure_threads(threads);
  });
  try {
    app.parse(argc, argv);
    return exit_code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kd::Cancelled&) {
    std::cerr << "cancelled\n";
    return 130;
  } catch (const kd::Error& e) {
    std::cerr << rank_prefix() << "error: " << e.what() << '\n';
  } catch (const c10::Error& e) {
    std::cerr << rank_prefix() << "error: " << e.what_without_backtrace() << '\n';
  } catch (const cv::Exception& e) {
    std::cerr << rank_prefix() << "error: " << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << rank_prefix() << "error: " << e.what() << '\n';
  }
  return 1;
}

}  // namespace kd::cli
