#pragma once
#include <CLI/CLI.hpp>

#include "experiment/experiment_runner.h"

namespace kd::cli {

/// Adds "train", "resume" and "demo".
void add_train_commands(CLI::App& app, int& exit_code);

/// Prints what a run will train (data, models, layers, schedule, device, run folder).
void print_plan(const ExperimentRunner& runner);

/// Prints a finished run's per-seed table and mean +- std.
void print_result(const ExperimentResult& result);

/// "85.20".
std::string percent(double value);

}  // namespace kd::cli
