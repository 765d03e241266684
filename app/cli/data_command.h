#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Registers `data --data SPEC [--json]`: sizes, classes and channel statistics of a dataset.
void add_data_command(CLI::App& app, int& exit_code);

}  // namespace kd::cli
