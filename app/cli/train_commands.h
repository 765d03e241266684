#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Adds "train", "resume", "export" and "demo".
void add_train_commands(CLI::App& app, int& exit_code);

}  // namespace kd::cli
