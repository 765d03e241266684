#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Registers `inspect --model SPEC [--input CxHxW] [--json]`: the generalized-layer table.
void add_inspect_command(CLI::App& app, int& exit_code);

}  // namespace kd::cli
