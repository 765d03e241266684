#pragma once
// ONNX graphs of TorchScript-imported students (docs/deploy.md). The module is frozen (weights
// become constants, BatchNorm folds into the convolutions) and its forward() is interpreted
// node by node: every node also runs in LibTorch on a sample batch, so shapes and branches on
// shapes are known, and each node on the input's path is mapped to ONNX operators. What does
// not depend on the input is computed once and stored as a constant.
#include <string>

#include "deploy/onnx_graph.h"

namespace kd {

class ScriptedModel;

/// Appends `model`'s forward() to `g`, applied to the value `x` (shape (batch, C, H, W), batch
/// left free); returns the name of the logits' value. Throws kd::Error naming the first
/// operator that has no mapping (e.g. "aten::_native_multi_head_attention"), or the use of the
/// batch size that a graph with a free batch cannot express.
std::string append_torchscript_onnx(ScriptedModel& model, OnnxGraph& g, const std::string& x);

/// The TorchScript operators that append_torchscript_onnx maps, for messages and docs.
const std::string& mapped_torchscript_operators();

}  // namespace kd
