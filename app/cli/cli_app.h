#pragma once

namespace kd::cli {

/// Runs kdstudio-cli with the process arguments; returns the exit code (0 ok, 1 error, 2 usage).
int run(int argc, char** argv);

}  // namespace kd::cli
