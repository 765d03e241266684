#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Registers `analyze` (per-layer S, I, E, Q and geometry; recommended layers),
/// `project` (PCA / t-SNE coordinates of one layer as CSV) and `cka` (teacher x student map).
void add_analysis_commands(CLI::App& app, int& exit_code);

}  // namespace kd::cli
