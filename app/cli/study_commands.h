#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Adds "study" with "layers" and "report" (the layer-choice study, docs/sweeps.md).
void add_study_commands(CLI::App& app, int& exit_code);

}  // namespace kd::cli
