#pragma once
// Exporting a run's trained student for deployment: safetensors, TorchScript or ONNX, each with
// its preprocessing, labels and provenance (deploy_info.h; docs/deploy.md).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "deploy/deploy_info.h"

namespace kd {

class LayeredModel;
struct ChannelStats;
struct ExperimentConfig;

/// How to export.
struct StudentExportOptions {
  StudentExportOptions(std::string format_ = "safetensors", bool bake_ = false,
                       std::optional<uint64_t> seed_ = std::nullopt)
      : format(std::move(format_)), bake(bake_), seed(seed_) {}
  std::string format;            ///< safetensors (zoo students), torchscript (imported), onnx (zoo)
  bool bake;                     ///< onnx only: standardization inside the model
  std::optional<uint64_t> seed;  ///< which seed's student (default: the run's first)
};

/// What an export wrote.
struct StudentExportReport {
  DeployInfo info;
  /// For ONNX: the operators used and how the file was checked (ONNX's checker, and OpenCV's
  /// DNN run against LibTorch with the largest difference found, or why OpenCV could not run it).
  std::vector<std::string> checks;
};

/// The DeployInfo of a run's student: the training split's per-channel mean and std, the class
/// names, the input shape, and the run (folder name, method, dataset, test accuracy).
DeployInfo make_deploy_info(LayeredModel& student, const ChannelStats& stats,
                            const std::vector<std::string>& class_names, const std::string& dataset,
                            const std::string& method, const std::string& run_dir,
                            std::optional<double> test_accuracy);

/// Exports the final student of a finished run to `out` (written atomically; nothing is left at
/// `out` when it fails). Preprocessing comes from the student file when it carries it, else is
/// computed again from the run's dataset. Throws kd::Error for a format the student cannot be
/// written in (a SimKD student, TorchScript as safetensors, ...), a run without a final student,
/// a missing seed, or a model ONNX's checker rejects.
StudentExportReport export_student(const std::string& run_dir, const std::string& out,
                                   const StudentExportOptions& options);

/// Result of running an exported ONNX file next to the model it came from.
struct OnnxCheck {
  double max_difference = 0;  ///< largest |OpenCV logit - LibTorch logit|
  double max_logit = 0;       ///< largest |LibTorch logit| (the scale the difference is judged on)
};

/// Runs an exported ONNX file in OpenCV's DNN module and `model` in LibTorch on the same images
/// (`pixels`: (B, C, H, W) in [0, 1]; standardized with `info` first, inside the file when
/// `baked`). Throws kd::Error when OpenCV cannot read or run the file (its message names the
/// operator).
OnnxCheck check_onnx_with_opencv(const std::string& onnx_path, LayeredModel& model, const torch::Tensor& pixels,
                                 const DeployInfo& info, bool baked);

/// Fixed pixels in [0, 1) for checks: the same on every run and platform.
torch::Tensor check_pixels(int64_t n, int64_t channels, int64_t height, int64_t width);

}  // namespace kd
