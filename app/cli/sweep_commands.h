#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "sweep/sweep_folder.h"

namespace kd::cli {

/// Adds "sweep" with "run", "status", "submit" and "run-point" (docs/sweeps.md).
void add_sweep_commands(CLI::App& app, int& exit_code);

/// Runs a sweep folder's unfinished points here, `jobs` at a time, printing each start and end,
/// then the results by sweep point. Throws kd::Cancelled after Ctrl-C (the points resume when
/// run again), kd::Error when points failed.
void run_sweep_folder(const SweepFolder& folder, int jobs, const std::string& device);

}  // namespace kd::cli
