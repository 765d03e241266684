#pragma once
// ONNX export of zoo students and OpenCV DNN as a second runtime that checks it (docs/deploy.md).
#include <torch/types.h>

#include <memory>
#include <string>

#include "deploy/deploy_info.h"
#include "deploy/onnx_graph.h"

namespace kd {

class LayeredModel;

/// The eval-mode graph of `model` (BatchNorm folded, dropout off) taking `info`'s input shape.
/// With `bake`, the graph starts with (x - mean) / std, so that it takes pixels in [0, 1].
/// Zoo models map layer by layer, TorchScript students operator by operator
/// (deploy/torchscript_onnx.h). Throws kd::Error naming a layer or operator without a mapping.
OnnxGraph build_onnx_graph(LayeredModel& model, const DeployInfo& info, bool bake);

/// Builds the graph, checks it with ONNX's checker and writes it with `info` as metadata_props
/// (kd.input_transform set to "baked" or "standardize"). Atomic; throws kd::Error.
void export_onnx(LayeredModel& model, DeployInfo info, bool bake, const std::string& path);

/// Whether OpenCV's DNN module is in this build (it runs exported models in `predict` and in
/// the export check).
bool opencv_dnn_available();

/// An ONNX model run by OpenCV's DNN module (CPU).
class OpenCvOnnxModel {
 public:
  /// Reads the file; throws kd::Error with OpenCV's message (e.g. an operator it cannot run).
  explicit OpenCvOnnxModel(const std::string& path);
  ~OpenCvOnnxModel();
  OpenCvOnnxModel(const OpenCvOnnxModel&) = delete;
  OpenCvOnnxModel& operator=(const OpenCvOnnxModel&) = delete;
  /// Runs a float32 batch (B, C, H, W) on the CPU; returns the logits (B, classes).
  torch::Tensor forward(const torch::Tensor& input);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace kd
