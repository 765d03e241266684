#include "deploy/onnx_graph.h"

#include <torch/torch.h>

#include <cmath>

namespace kd {

OnnxGraph::OnnxGraph(std::string input_name, int64_t channels, int64_t height, int64_t width)
    : input_(std::move(input_name)), input_dims_{-1, channels, height, width} {}

std::string OnnxGraph::fresh(const std::string& hint) { return hint + "_" + std::to_string(counter_++); }

std::string OnnxGraph::constant(const std::string& hint, const torch::Tensor& value) {
  const std::string name = fresh(hint);
  torch::Tensor t = value.detach().to(torch::kCPU);
  t = t.scalar_type() == torch::kLong ? t.contiguous() : t.to(torch::kFloat).contiguous();
  constants_.emplace_back(name, t);
  return name;
}

std::string OnnxGraph::ints(const std::string& hint, const std::vector<int64_t>& values) {
  return constant(hint, torch::tensor(values, torch::kLong));
}

std::string OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs,
                            std::vector<OnnxAttribute> attributes) {
  OnnxNode n;
  n.op = op;
  n.inputs = inputs;
  n.name = fresh(op);
  n.outputs = {n.name + "_out"};
  n.attributes = std::move(attributes);
  nodes_.push_back(std::move(n));
  return nodes_.back().outputs[0];
}

std::string OnnxGraph::conv(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t groups) {
  std::vector<std::string> in = {x, constant("conv_w", weight)};
  if (bias.defined()) in.push_back(constant("conv_b", bias));
  return node("Conv", in,
              {{"kernel_shape", std::vector<int64_t>{weight.size(2), weight.size(3)}},
               {"strides", std::vector<int64_t>{stride, stride}},
               {"pads", std::vector<int64_t>{padding, padding, padding, padding}},
               {"group", groups}});
}

std::string OnnxGraph::relu(const std::string& x) { return node("Relu", {x}); }

std::string OnnxGraph::relu6(const std::string& x) {
  // relu(x) - relu(x - 6) rather than Clip: opset 13's Clip takes its bounds as inputs, which
  // OpenCV 4.6's DNN module cannot read. Exact for x <= 12 (x - 6 is exact there), within one
  // rounding above.
  return node("Sub", {relu(x), relu(node("Sub", {x, constant("six", torch::tensor(6.0f))}))});
}

std::string OnnxGraph::gelu(const std::string& x) {
  const std::string scaled = node("Mul", {x, constant("inv_sqrt2", torch::tensor(float(1.0 / std::sqrt(2.0))))});
  const std::string erf1 = node("Add", {node("Erf", {scaled}), constant("one", torch::tensor(1.0f))});
  return node("Mul", {node("Mul", {x, erf1}), constant("half", torch::tensor(0.5f))});
}

std::string OnnxGraph::max_pool2_ceil(const std::string& x) {
  return node("MaxPool", {x},
              {{"kernel_shape", std::vector<int64_t>{2, 2}},
               {"strides", std::vector<int64_t>{2, 2}},
               {"ceil_mode", int64_t{1}}});
}

std::string OnnxGraph::linear2d(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  std::vector<std::string> in = {x, constant("fc_w", weight)};
  if (bias.defined()) in.push_back(constant("fc_b", bias));
  return node("Gemm", in, {{"transB", int64_t{1}}});
}

std::string OnnxGraph::linear(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  std::string y = node("MatMul", {x, constant("fc_wt", weight.t())});
  return bias.defined() ? node("Add", {y, constant("fc_b", bias)}) : y;
}

std::string OnnxGraph::layer_norm(const std::string& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, double eps) {
  const OnnxAttribute last_axis{"axes", std::vector<int64_t>{-1}};
  const std::string mean = node("ReduceMean", {x}, {last_axis, {"keepdims", int64_t{1}}});
  const std::string centred = node("Sub", {x, mean});
  const std::string var = node("ReduceMean", {node("Mul", {centred, centred})}, {last_axis, {"keepdims", int64_t{1}}});
  const std::string denom = node("Sqrt", {node("Add", {var, constant("eps", torch::tensor(float(eps)))})});
  const std::string normed = node("Div", {centred, denom});
  return node("Add", {node("Mul", {normed, constant("ln_w", weight)}), constant("ln_b", bias)});
}

std::string OnnxGraph::add(const std::string& a, const std::string& b) { return node("Add", {a, b}); }

std::string OnnxGraph::reshape(const std::string& x, const std::vector<int64_t>& shape) {
  return node("Reshape", {x, ints("shape", shape)});
}

std::string OnnxGraph::transpose(const std::string& x, const std::vector<int64_t>& perm) {
  return node("Transpose", {x}, {{"perm", perm}});
}

void OnnxGraph::set_output(const std::string& value, int64_t classes) {
  output_ = value;
  classes_ = classes;
}

}  // namespace kd
