#pragma once
// An ONNX graph held as plain C++ values (no protobuf here): what the zoo blocks append their
// eval-mode computation to. deploy/onnx_file.h turns it into a .onnx file (docs/deploy.md).
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kd {

/// The ONNX opset every export declares (ONNX 1.8+ runtimes, OpenCV's DNN module 4.5+). Layer
/// normalization and GELU are written out in opset-13 operators (ReduceMean, Sqrt, Erf, ...).
inline constexpr int64_t kOnnxOpset = 13;

/// One attribute of a node: an integer, a float or a list of integers.
struct OnnxAttribute {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>> value;
};

/// One node: operator type, input and output value names, attributes.
struct OnnxNode {
  std::string op;
  std::vector<std::string> inputs, outputs;
  std::vector<OnnxAttribute> attributes;
  std::string name;
};

/// A graph under construction. Values are named; names are made unique by the graph.
class OnnxGraph {
 public:
  /// A graph with one float input of shape (batch, channels, height, width), batch symbolic.
  OnnxGraph(std::string input_name, int64_t channels, int64_t height, int64_t width);

  /// The graph input's name.
  const std::string& input() const { return input_; }
  const std::vector<int64_t>& input_dims() const { return input_dims_; }

  /// Adds a constant (float32, int64 kept as int64; other types become float32); returns its name.
  std::string constant(const std::string& hint, const torch::Tensor& value);
  /// A 1-D int64 constant (shapes, axes).
  std::string ints(const std::string& hint, const std::vector<int64_t>& values);
  /// Appends a node with one output; returns the output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   std::vector<OnnxAttribute> attributes = {});

  // Building blocks shared by the zoo blocks; each returns the output value's name.
  /// Conv2d with symmetric padding (`padding` on every side); bias may be undefined.
  std::string conv(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                   int64_t stride, int64_t padding, int64_t groups);
  std::string relu(const std::string& x);
  /// min(max(x, 0), 6), written relu(x) - relu(x - 6).
  std::string relu6(const std::string& x);
  /// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)), as torch::gelu's default.
  std::string gelu(const std::string& x);
  /// MaxPool 2x2, stride 2, ceil mode.
  std::string max_pool2_ceil(const std::string& x);
  /// x W^T + b for 2-D x (Gemm).
  std::string linear2d(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias);
  /// x W^T + b over the last axis of an N-D x (MatMul + Add).
  std::string linear(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias);
  /// LayerNorm over the last axis, written out: (x - mean) / sqrt(var + eps) * weight + bias.
  std::string layer_norm(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                         double eps);
  std::string add(const std::string& a, const std::string& b);
  /// Reshape to `shape` (-1 allowed once, e.g. for the batch).
  std::string reshape(const std::string& x, const std::vector<int64_t>& shape);
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm);

  /// Marks `value` as the graph output (the logits, shape (batch, classes)).
  void set_output(const std::string& value, int64_t classes);

  const std::vector<OnnxNode>& nodes() const { return nodes_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& constants() const { return constants_; }
  const std::string& output() const { return output_; }
  int64_t output_classes() const { return classes_; }

 private:
  std::string fresh(const std::string& hint);

  std::string input_;
  std::vector<int64_t> input_dims_;
  std::vector<OnnxNode> nodes_;
  std::vector<std::pair<std::string, torch::Tensor>> constants_;
  std::string output_;
  int64_t classes_ = 0;
  int64_t counter_ = 0;
};

}  // namespace kd
