#pragma once
#include <CLI/CLI.hpp>

namespace kd::cli {

/// Adds "export" (a run's student as safetensors, TorchScript or ONNX, with its preprocessing)
/// and "predict" (top-k classes of image files with an exported student or a teacher file).
void add_deploy_commands(CLI::App& app, int& exit_code);

}  // namespace kd::cli
