#include "deploy/torchscript_onnx.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "common/error_text.h"
#include "models/scripted_model.h"

namespace kd {

namespace {

using torch::jit::Node;
using torch::jit::Value;

/// How a value depends on the batch size: not at all, it is the batch size (x.size(0)), or it
/// was computed from it.
enum class BatchUse { kNone, kBatch, kDerived };

/// What the interpreter knows of one TorchScript value.
struct Entry {
  c10::IValue value;         ///< as LibTorch computed it on the sample batch
  std::string onnx;          ///< tensors on the input's path: their ONNX value (batch first)
  BatchUse batch = BatchUse::kNone;
  std::vector<Entry> items;  ///< lists and tuples built in the graph: their elements

  bool dynamic() const {
    if (!onnx.empty() || batch != BatchUse::kNone) return true;
    for (const auto& i : items) {
      if (i.dynamic()) return true;
    }
    return false;
  }
};

constexpr int64_t kSampleBatch = 2;

std::string kind_of(const Node* n) { return n->kind().toQualString(); }

class Translator {
 public:
  Translator(OnnxGraph& g, std::string what) : g_(g), what_(std::move(what)) {}

  std::string run(torch::jit::Graph& graph, const std::string& x, const torch::Tensor& sample) {
    if (graph.inputs().size() != 2) {
      throw Error(what_ + ": forward() takes " + std::to_string(graph.inputs().size() - 1) +
                  " inputs; ONNX export takes models of one image batch");
    }
    Entry in;
    in.value = sample;
    in.onnx = x;
    env_[graph.inputs()[1]] = in;
    run_block(graph.block());
    Entry out = at(graph.outputs()[0]);
    while (out.value.isTuple() || out.value.isList()) {  // the first output, as ScriptedModel::forward
      if (out.items.empty()) break;
      Entry first = out.items.front();
      out = std::move(first);
    }
    if (out.onnx.empty()) throw Error(what_ + ": forward()'s output does not depend on its input");
    return out.onnx;
  }

  static const std::map<std::string, void (Translator::*)(Node*, std::vector<c10::IValue>&)>& table();

 private:
  [[noreturn]] void fail(const Node* n, const std::string& why) const {
    throw Error(what_ + ": " + kind_of(n) + " " + why);
  }

  Entry& at(Value* v) {
    auto it = env_.find(v);
    if (it == env_.end()) throw Error(what_ + ": the value %" + v->debugName() + " is used before it is defined");
    return it->second;
  }

  void run_block(torch::jit::Block* block) {
    for (Node* n : block->nodes()) run_node(n);
  }

  void run_node(Node* n) {
    const std::string kind = kind_of(n);
    if (kind == "prim::Constant") {
      Entry e;
      e.value = torch::jit::toIValue(n->output()).value_or(c10::IValue());
      env_[n->output()] = e;
      return;
    }
    if (kind == "prim::If") {
      const Entry& condition = at(n->input(0));
      if (condition.dynamic()) fail(n, "branches on the batch size, which an ONNX graph with a free batch cannot");
      torch::jit::Block* taken = n->blocks()[condition.value.toBool() ? 0 : 1];
      run_block(taken);
      for (size_t i = 0; i < n->outputs().size(); ++i) env_[n->outputs()[i]] = at(taken->outputs()[i]);
      return;
    }
    if (!n->blocks().empty()) fail(n, "(a loop or other control flow) has no ONNX mapping in KD Studio");

    // Run it in LibTorch first: the values give shapes, and constants for what stays off the
    // input's path.
    torch::jit::Stack stack;
    for (Value* v : n->inputs()) stack.push_back(at(v).value);
    try {
      if (!run_list_or_tuple(n, kind, stack)) n->getOperation()(stack);
    } catch (const std::exception& e) {
      fail(n, "failed in LibTorch on a sample batch: " + first_error_line(e));
    }
    if (stack.size() != n->outputs().size()) fail(n, "returned an unexpected number of values");

    bool dynamic = false;
    for (Value* v : n->inputs()) dynamic = dynamic || at(v).dynamic();
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      Entry e;
      e.value = stack[i];
      env_[n->outputs()[i]] = e;
    }
    if (!dynamic) return;  // a constant: computed once, written where the input's path uses it

    if (structural(n, kind)) return;
    const auto& t = table();
    const auto it = t.find(kind);
    if (it == t.end()) {
      // Scalars computed from the batch size (x.size(0) * 4, ...) are followed; a tensor
      // operator on the input's path must be mapped.
      bool tensor_in = false;
      for (Value* v : n->inputs()) tensor_in = tensor_in || !at(v).onnx.empty();
      bool tensor_out = false;
      for (const auto& v : stack) tensor_out = tensor_out || (v.isTensor() && v.toTensor().dim() > 0);
      if (!tensor_in && !tensor_out) {
        for (Value* v : n->outputs()) at(v).batch = BatchUse::kDerived;
        return;
      }
      fail(n, "has no ONNX mapping in KD Studio (it maps " + mapped_torchscript_operators() + ")");
    }
    (this->*(it->second))(n, stack);
  }

  /// Lists and tuples have no operator schema in LibTorch: built and taken apart here. Returns
  /// false for other nodes.
  static bool run_list_or_tuple(Node* n, const std::string& kind, torch::jit::Stack& stack) {
    if (kind == "prim::ListConstruct") {
      c10::impl::GenericList list(n->output()->type()->expectRef<c10::ListType>().getElementType());
      for (auto& v : stack) list.push_back(std::move(v));
      stack.assign(1, c10::IValue(std::move(list)));
    } else if (kind == "prim::TupleConstruct") {
      stack.assign(1, c10::IValue(c10::ivalue::Tuple::create(std::vector<c10::IValue>(stack.begin(), stack.end()))));
    } else if (kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") {
      const c10::IValue whole = stack.at(0);
      stack.clear();
      if (whole.isTuple()) {
        for (const auto& e : whole.toTupleRef().elements()) stack.push_back(e);
      } else {
        for (const auto& e : whole.toList()) stack.push_back(e);
      }
    } else if (kind == "prim::TupleIndex") {
      const c10::IValue whole = stack.at(0);
      const auto& elements = whole.toTupleRef().elements();
      int64_t i = stack.at(1).toInt();
      if (i < 0) i += static_cast<int64_t>(elements.size());
      stack.assign(1, elements.at(static_cast<size_t>(i)));
    } else {
      return false;
    }
    return true;
  }

  /// Lists, tuples and shape queries: bookkeeping, no ONNX node.
  bool structural(Node* n, const std::string& kind) {
    if (kind == "prim::ListConstruct" || kind == "prim::TupleConstruct") {
      Entry& out = at(n->output());
      for (Value* v : n->inputs()) out.items.push_back(at(v));
      return true;
    }
    if (kind == "prim::ListUnpack" || kind == "prim::TupleUnpack") {
      const Entry whole = at(n->input(0));
      if (whole.items.size() != n->outputs().size()) fail(n, "unpacks a list built outside the graph");
      for (size_t i = 0; i < n->outputs().size(); ++i) env_[n->outputs()[i]] = whole.items[i];
      return true;
    }
    if (kind == "prim::TupleIndex" || kind == "aten::__getitem__") {
      const Entry whole = at(n->input(0));
      const Entry& index = at(n->input(1));
      if (index.dynamic()) fail(n, "indexes with the batch size");
      int64_t i = index.value.toInt();
      if (i < 0) i += static_cast<int64_t>(whole.items.size());
      if (i < 0 || i >= static_cast<int64_t>(whole.items.size())) fail(n, "indexes a list built outside the graph");
      env_[n->output()] = whole.items[static_cast<size_t>(i)];
      return true;
    }
    if (kind == "aten::size") {
      const Entry& x = at(n->input(0));
      if (x.onnx.empty()) return false;
      if (n->inputs().size() == 2) {
        if (at(n->input(1)).dynamic()) fail(n, "asks for a dimension given by the batch size");
        int64_t d = at(n->input(1)).value.toInt();
        if (d < 0) d += x.value.toTensor().dim();
        at(n->output()).batch = d == 0 ? BatchUse::kBatch : BatchUse::kNone;
      } else {
        Entry& out = at(n->output());
        const auto sizes = out.value.toIntVector();
        for (size_t i = 0; i < sizes.size(); ++i) {
          Entry item;
          item.value = sizes[i];
          item.batch = i == 0 ? BatchUse::kBatch : BatchUse::kNone;
          out.items.push_back(item);
        }
      }
      return true;
    }
    if (kind == "aten::dim" || kind == "aten::len") {
      const Entry& x = at(n->input(0));
      if (!x.onnx.empty() || kind == "aten::len") return true;  // the rank and lengths are fixed
      return false;
    }
    if (kind == "prim::NumToTensor" || kind == "aten::Int" || kind == "aten::ScalarImplicit" ||
        kind == "aten::Float") {
      const Entry& x = at(n->input(0));
      if (!x.onnx.empty()) return false;
      at(n->output()).batch = x.batch;
      return true;
    }
    return false;
  }

  // ---- helpers for the mapped operators ----

  const Entry& input(Node* n, size_t i) { return at(n->input(i)); }

  /// An argument that must not depend on the input (kernel sizes, axes, weights).
  const c10::IValue& constant_arg(Node* n, size_t i) {
    const Entry& e = at(n->input(i));
    if (e.dynamic()) fail(n, "takes argument " + std::to_string(i) + " from the input or the batch size");
    return e.value;
  }

  std::vector<int64_t> ints_arg(Node* n, size_t i) {
    const c10::IValue& v = constant_arg(n, i);
    if (v.isInt()) return {v.toInt()};
    return v.toIntVector();
  }

  /// The tensor input on the input's path.
  const std::string& path_arg(Node* n, size_t i) {
    const Entry& e = at(n->input(i));
    if (e.onnx.empty()) fail(n, "is applied to a value the input does not reach");
    return e.onnx;
  }

  torch::Tensor tensor_arg(Node* n, size_t i) {
    const c10::IValue& v = constant_arg(n, i);
    return v.isTensor() ? v.toTensor().detach() : torch::Tensor();
  }

  /// An operand of an elementwise operator: the input's path, a constant tensor or a number.
  std::string operand(Node* n, size_t i) {
    const Entry& e = at(n->input(i));
    if (!e.onnx.empty()) return e.onnx;
    if (e.dynamic()) fail(n, "combines a tensor with the batch size");
    if (e.value.isTensor()) return g_.constant("c", e.value.toTensor().detach().to(torch::kFloat));
    if (e.value.isDouble() || e.value.isInt() || e.value.isBool()) {
      return g_.constant("c", torch::tensor(static_cast<float>(e.value.toScalar().toDouble())));
    }
    fail(n, "has an operand that is neither a tensor nor a number");
  }

  int64_t rank(Node* n, size_t i) { return at(n->input(i)).value.toTensor().dim(); }

  int64_t axis_arg(Node* n, size_t i, int64_t rank_of) {
    int64_t d = constant_arg(n, i).toInt();
    if (d < 0) d += rank_of;
    if (d == 0) fail(n, "works along the batch dimension, which the exported model leaves free");
    return d;
  }

  void set(Node* n, const std::string& onnx, size_t output = 0) { at(n->outputs()[output]).onnx = onnx; }
  /// In-place operators (relu_, add_): later uses of the operand see the new value.
  void set_in_place(Node* n, const std::string& onnx) {
    set(n, onnx);
    if (kind_of(n).back() == '_') at(n->input(0)).onnx = onnx;
  }

  // ---- the mapped operators ----

  void convolution(Node* n, std::vector<c10::IValue>&) {
    const std::string kind = kind_of(n);
    const torch::Tensor w = tensor_arg(n, 1);
    if (!w.defined() || w.dim() != 4) fail(n, "is not a 2-D convolution with constant weights");
    const torch::Tensor b = tensor_arg(n, 2);
    const std::vector<int64_t> stride = ints_arg(n, 3), dilation = ints_arg(n, 5);
    std::vector<int64_t> padding;
    int64_t groups = 1;
    if (kind == "aten::_convolution") {
      if (constant_arg(n, 6).toBool()) fail(n, "is a transposed convolution, which KD Studio does not map");
      groups = constant_arg(n, 8).toInt();
    } else {
      groups = constant_arg(n, 6).toInt();
    }
    const c10::IValue& pad = constant_arg(n, 4);
    if (pad.isString()) {  // padding='valid' or 'same' (stride 1)
      const std::string mode = pad.toStringRef();
      for (int k = 0; k < 2; ++k) {
        const int64_t total = mode == "same" ? dilation[static_cast<size_t>(k)] * (w.size(2 + k) - 1) : 0;
        if (total % 2 != 0) fail(n, "pads 'same' unevenly, which KD Studio does not map");
        padding.push_back(total / 2);
      }
    } else {
      padding = pad.isInt() ? std::vector<int64_t>{pad.toInt()} : pad.toIntVector();
    }
    auto pair = [](std::vector<int64_t> v) { return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v; };
    const auto s = pair(stride), d = pair(dilation), p = pair(padding);
    std::vector<std::string> in = {path_arg(n, 0), g_.constant("conv_w", w)};
    if (b.defined()) in.push_back(g_.constant("conv_b", b));
    std::vector<OnnxAttribute> attributes = {{"kernel_shape", std::vector<int64_t>{w.size(2), w.size(3)}},
                                             {"strides", s},
                                             {"pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]}},
                                             {"group", groups}};
    if (d[0] != 1 || d[1] != 1) attributes.push_back({"dilations", d});
    set(n, g_.node("Conv", in, attributes));
  }

  void batch_norm(Node* n, std::vector<c10::IValue>&) {
    if (constant_arg(n, 5).toBool()) fail(n, "is in training mode");
    const torch::Tensor mean = tensor_arg(n, 3), var = tensor_arg(n, 4);
    if (!mean.defined() || !var.defined()) fail(n, "has no running statistics");
    const int64_t channels = mean.size(0);
    torch::Tensor w = tensor_arg(n, 1), b = tensor_arg(n, 2);
    if (!w.defined()) w = torch::ones({channels});
    if (!b.defined()) b = torch::zeros({channels});
    const double eps = constant_arg(n, 7).toDouble();
    const torch::Tensor scale = w.to(torch::kDouble) / torch::sqrt(var.to(torch::kDouble) + eps);
    const torch::Tensor shift = b.to(torch::kDouble) - mean.to(torch::kDouble) * scale;
    std::vector<int64_t> shape = {channels};
    for (int64_t i = 2; i < rank(n, 0); ++i) shape.push_back(1);
    const std::string y = g_.node("Mul", {path_arg(n, 0), g_.constant("bn_scale", scale.reshape(shape))});
    set(n, g_.node("Add", {y, g_.constant("bn_shift", shift.reshape(shape))}));
  }

  void unary(Node* n, std::vector<c10::IValue>&) {
    static const std::map<std::string, std::string> ops = {
        {"aten::relu", "Relu"},       {"aten::relu_", "Relu"},       {"aten::sigmoid", "Sigmoid"},
        {"aten::sigmoid_", "Sigmoid"}, {"aten::tanh", "Tanh"},        {"aten::tanh_", "Tanh"},
        {"aten::exp", "Exp"},         {"aten::sqrt", "Sqrt"},        {"aten::neg", "Neg"},
        {"aten::abs", "Abs"}};
    set_in_place(n, g_.node(ops.at(kind_of(n)), {path_arg(n, 0)}));
  }

  void identity(Node* n, std::vector<c10::IValue>&) {
    const std::string kind = kind_of(n);
    if ((kind == "aten::dropout" || kind == "aten::dropout_" || kind == "aten::feature_dropout" ||
         kind == "aten::alpha_dropout") &&
        constant_arg(n, 2).toBool()) {
      fail(n, "is in training mode");
    }
    set(n, path_arg(n, 0));
  }

  /// hardtanh(x, lo, hi) = lo + relu(x - lo) - relu(x - hi); relu6 as the zoo writes it.
  void clamp(Node* n, std::vector<c10::IValue>&) {
    const std::string kind = kind_of(n);
    double lo = 0, hi = 6;
    if (kind == "aten::hardtanh" || kind == "aten::hardtanh_" || kind == "aten::clamp" || kind == "aten::clamp_") {
      const c10::IValue& a = constant_arg(n, 1);
      const c10::IValue& b = constant_arg(n, 2);
      if (a.isNone() || b.isNone()) fail(n, "clamps on one side only, which KD Studio does not map");
      lo = a.toScalar().toDouble();
      hi = b.toScalar().toDouble();
    }
    const std::string x = path_arg(n, 0);
    std::string y;
    if (lo == 0.0 && hi == 6.0) {
      y = g_.relu6(x);
    } else {
      const std::string above_lo = g_.relu(g_.node("Sub", {x, g_.constant("lo", torch::tensor(float(lo)))}));
      const std::string above_hi = g_.relu(g_.node("Sub", {x, g_.constant("hi", torch::tensor(float(hi)))}));
      y = g_.node("Add", {g_.node("Sub", {above_lo, above_hi}), g_.constant("lo", torch::tensor(float(lo)))});
    }
    set_in_place(n, y);
  }

  void leaky_relu(Node* n, std::vector<c10::IValue>&) {
    const float slope = static_cast<float>(constant_arg(n, 1).toScalar().toDouble());
    set_in_place(n, g_.node("LeakyRelu", {path_arg(n, 0)}, {{"alpha", slope}}));
  }

  void gelu(Node* n, std::vector<c10::IValue>&) {
    if (n->inputs().size() > 1 && constant_arg(n, 1).isString() && constant_arg(n, 1).toStringRef() != "none") {
      fail(n, "uses the tanh approximation, which KD Studio does not map (it maps the exact GELU)");
    }
    set(n, g_.gelu(path_arg(n, 0)));
  }

  void silu(Node* n, std::vector<c10::IValue>&) {
    const std::string x = path_arg(n, 0);
    set_in_place(n, g_.node("Mul", {x, g_.node("Sigmoid", {x})}));
  }

  void hardswish(Node* n, std::vector<c10::IValue>&) {  // x * relu6(x + 3) / 6
    const std::string x = path_arg(n, 0);
    const std::string gate = g_.relu6(g_.node("Add", {x, g_.constant("three", torch::tensor(3.0f))}));
    std::string y = g_.node("Mul", {gate, g_.constant("sixth", torch::tensor(float(1.0 / 6.0)))});
    if (kind_of(n).rfind("aten::hardswish", 0) == 0) y = g_.node("Mul", {x, y});
    set_in_place(n, y);
  }

  void arithmetic(Node* n, std::vector<c10::IValue>&) {
    std::string kind = kind_of(n);
    if (kind.back() == '_') kind.pop_back();
    static const std::map<std::string, std::string> ops = {
        {"aten::add", "Add"}, {"aten::sub", "Sub"}, {"aten::mul", "Mul"}, {"aten::div", "Div"}};
    const std::string a = operand(n, 0);
    std::string b = operand(n, 1);
    if ((kind == "aten::add" || kind == "aten::sub") && n->inputs().size() > 2) {
      const double alpha = constant_arg(n, 2).toScalar().toDouble();
      if (alpha != 1.0) b = g_.node("Mul", {b, g_.constant("alpha", torch::tensor(float(alpha)))});
    }
    if (kind == "aten::div" && n->inputs().size() > 2 && !constant_arg(n, 2).isNone()) {
      fail(n, "rounds its quotient, which KD Studio does not map");
    }
    set_in_place(n, g_.node(ops.at(kind), {a, b}));
  }

  void max_pool(Node* n, std::vector<c10::IValue>&) {
    const std::vector<int64_t> k = ints_arg(n, 1);
    std::vector<int64_t> s = ints_arg(n, 2);
    if (s.empty()) s = k;
    const std::vector<int64_t> p = ints_arg(n, 3), d = ints_arg(n, 4);
    auto two = [](const std::vector<int64_t>& v) { return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v; };
    const auto k2 = two(k), s2 = two(s), p2 = two(p), d2 = two(d);
    std::vector<OnnxAttribute> attributes = {{"kernel_shape", k2},
                                             {"strides", s2},
                                             {"pads", std::vector<int64_t>{p2[0], p2[1], p2[0], p2[1]}},
                                             {"ceil_mode", int64_t{constant_arg(n, 5).toBool() ? 1 : 0}}};
    if (d2[0] != 1 || d2[1] != 1) attributes.push_back({"dilations", d2});
    set(n, g_.node("MaxPool", {path_arg(n, 0)}, attributes));
  }

  void avg_pool(Node* n, std::vector<c10::IValue>&) {
    const std::vector<int64_t> k = ints_arg(n, 1);
    std::vector<int64_t> s = ints_arg(n, 2);
    if (s.empty()) s = k;
    const std::vector<int64_t> p = ints_arg(n, 3);
    if (n->inputs().size() > 6 && !constant_arg(n, 6).isNone()) fail(n, "overrides its divisor, which KD Studio does not map");
    auto two = [](const std::vector<int64_t>& v) { return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v; };
    const auto k2 = two(k), s2 = two(s), p2 = two(p);
    set(n, g_.node("AveragePool", {path_arg(n, 0)},
                   {{"kernel_shape", k2},
                    {"strides", s2},
                    {"pads", std::vector<int64_t>{p2[0], p2[1], p2[0], p2[1]}},
                    {"ceil_mode", int64_t{constant_arg(n, 4).toBool() ? 1 : 0}},
                    {"count_include_pad", int64_t{constant_arg(n, 5).toBool() ? 1 : 0}}}));
  }

  void adaptive_avg_pool(Node* n, std::vector<c10::IValue>&) {
    const auto in = input(n, 0).value.toTensor().sizes();
    std::vector<int64_t> out = ints_arg(n, 1);
    if (out.size() == 1) out.push_back(out[0]);
    if (in.size() != 4) fail(n, "pools a tensor that is not (batch, channels, height, width)");
    if (out[0] == 1 && out[1] == 1) {
      set(n, g_.node("GlobalAveragePool", {path_arg(n, 0)}));
      return;
    }
    if (in[2] % out[0] != 0 || in[3] % out[1] != 0) {
      fail(n, "pools " + std::to_string(in[2]) + "x" + std::to_string(in[3]) + " to " + std::to_string(out[0]) +
                  "x" + std::to_string(out[1]) + ", uneven windows that KD Studio does not map");
    }
    const std::vector<int64_t> k = {in[2] / out[0], in[3] / out[1]};
    set(n, g_.node("AveragePool", {path_arg(n, 0)}, {{"kernel_shape", k}, {"strides", k}}));
  }

  /// flatten, view and reshape: the output shape as LibTorch computed it, the batch left free.
  void reshape(Node* n, std::vector<c10::IValue>& outs) {
    const torch::Tensor x = input(n, 0).value.toTensor(), y = outs[0].toTensor();
    const std::string kind = kind_of(n);
    bool keeps_batch = y.dim() > 0 && y.size(0) == x.size(0);
    if (kind == "aten::flatten") {
      int64_t start = constant_arg(n, 1).toInt();
      if (start < 0) start += x.dim();
      keeps_batch = keeps_batch && (start >= 1 || x.dim() == 1);
      if (start == 1 && y.dim() == 2) {
        set(n, g_.node("Flatten", {path_arg(n, 0)}, {{"axis", int64_t{1}}}));
        return;
      }
    } else {
      // The target's first entry must be the batch size (x.size(0)) or -1 absorbing exactly it.
      const Entry& shape = input(n, 1);
      const std::vector<int64_t> target = shape.value.toIntVector();
      const bool first_is_batch = !shape.items.empty() && shape.items[0].batch == BatchUse::kBatch;
      bool rest_constant = true;
      for (size_t i = 1; i < shape.items.size(); ++i) rest_constant = rest_constant && !shape.items[i].dynamic();
      if (!shape.items.empty() && shape.items[0].batch == BatchUse::kDerived) rest_constant = false;
      keeps_batch = keeps_batch && rest_constant && !target.empty() && (first_is_batch || target[0] == -1);
    }
    if (!keeps_batch) fail(n, "reshapes across the batch dimension, which the exported model leaves free");
    std::vector<int64_t> shape = {-1};
    for (int64_t i = 1; i < y.dim(); ++i) shape.push_back(y.size(i));
    set(n, g_.reshape(path_arg(n, 0), shape));
  }

  void linear(Node* n, std::vector<c10::IValue>&) {
    const torch::Tensor w = tensor_arg(n, 1), b = tensor_arg(n, 2);
    if (!w.defined()) fail(n, "has no constant weight");
    set(n, rank(n, 0) == 2 ? g_.linear2d(path_arg(n, 0), w, b) : g_.linear(path_arg(n, 0), w, b));
  }

  void addmm(Node* n, std::vector<c10::IValue>&) {  // beta * bias + alpha * x @ w
    const double beta = constant_arg(n, 3).toScalar().toDouble(), alpha = constant_arg(n, 4).toScalar().toDouble();
    const torch::Tensor bias = tensor_arg(n, 0), w = tensor_arg(n, 2);
    if (!bias.defined() || !w.defined()) fail(n, "has no constant weight and bias");
    set(n, g_.node("Gemm", {path_arg(n, 1), g_.constant("fc_w", w), g_.constant("fc_b", bias)},
                   {{"alpha", static_cast<float>(alpha)}, {"beta", static_cast<float>(beta)}}));
  }

  void matmul(Node* n, std::vector<c10::IValue>&) { set(n, g_.node("MatMul", {operand(n, 0), operand(n, 1)})); }

  void permute(Node* n, std::vector<c10::IValue>&) {
    const int64_t r = rank(n, 0);
    std::vector<int64_t> perm(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = i;
    if (kind_of(n) == "aten::permute") {
      perm = ints_arg(n, 1);
      for (auto& p : perm) p = p < 0 ? p + r : p;
    } else {
      int64_t a = constant_arg(n, 1).toInt(), b = constant_arg(n, 2).toInt();
      a = a < 0 ? a + r : a;
      b = b < 0 ? b + r : b;
      std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
    }
    if (perm.empty() || perm[0] != 0) fail(n, "moves the batch dimension, which the exported model leaves free");
    set(n, g_.transpose(path_arg(n, 0), perm));
  }

  void concat(Node* n, std::vector<c10::IValue>& outs) {
    const Entry& list = input(n, 0);
    const int64_t axis = axis_arg(n, 1, outs[0].toTensor().dim());
    std::vector<std::string> parts;
    for (const auto& item : list.items) {
      if (item.onnx.empty()) fail(n, "joins a constant to the input's path, which needs the batch size");
      parts.push_back(item.onnx);
    }
    if (parts.empty()) fail(n, "joins a list built outside the graph");
    set(n, g_.node("Concat", parts, {{"axis", axis}}));
  }

  void mean(Node* n, std::vector<c10::IValue>&) {
    const int64_t r = rank(n, 0);
    std::vector<int64_t> axes = ints_arg(n, 1);
    for (auto& a : axes) {
      a = a < 0 ? a + r : a;
      if (a == 0) fail(n, "averages over the batch");
    }
    set(n, g_.node("ReduceMean", {path_arg(n, 0)},
                   {{"axes", axes}, {"keepdims", int64_t{constant_arg(n, 2).toBool() ? 1 : 0}}}));
  }

  void softmax(Node* n, std::vector<c10::IValue>&) {
    const int64_t axis = axis_arg(n, 1, rank(n, 0));
    set(n, g_.node(kind_of(n) == "aten::log_softmax" ? "LogSoftmax" : "Softmax", {path_arg(n, 0)}, {{"axis", axis}}));
  }

  void layer_norm(Node* n, std::vector<c10::IValue>&) {
    const std::vector<int64_t> shape = ints_arg(n, 1);
    if (shape.size() != 1) fail(n, "normalizes over more than the last axis, which KD Studio does not map");
    torch::Tensor w = tensor_arg(n, 2), b = tensor_arg(n, 3);
    if (!w.defined()) w = torch::ones({shape[0]});
    if (!b.defined()) b = torch::zeros({shape[0]});
    set(n, g_.layer_norm(path_arg(n, 0), w, b, constant_arg(n, 4).toDouble()));
  }

  void select(Node* n, std::vector<c10::IValue>&) {  // x.select(d, i): Gather with a scalar index
    const int64_t axis = axis_arg(n, 1, rank(n, 0));
    const std::string index = g_.constant("index", torch::tensor(constant_arg(n, 2).toInt(), torch::kLong));
    set(n, g_.node("Gather", {path_arg(n, 0), index}, {{"axis", axis}}));
  }

  void slice(Node* n, std::vector<c10::IValue>& outs) {
    const torch::Tensor x = input(n, 0).value.toTensor();
    int64_t d = constant_arg(n, 1).toInt();
    d = d < 0 ? d + x.dim() : d;
    if (d == 0) {  // x[:] along the batch: a no-op when it keeps every row
      if (outs[0].toTensor().size(0) != x.size(0)) fail(n, "slices the batch, which the exported model leaves free");
      set(n, path_arg(n, 0));
      return;
    }
    const c10::IValue& start = constant_arg(n, 2);
    const c10::IValue& end = constant_arg(n, 3);
    const int64_t begin = start.isNone() ? 0 : start.toInt();
    const int64_t stop = end.isNone() ? std::numeric_limits<int64_t>::max() : end.toInt();
    set(n, g_.node("Slice", {path_arg(n, 0), g_.ints("starts", {begin}), g_.ints("ends", {stop}), g_.ints("axes", {d}),
                             g_.ints("steps", {constant_arg(n, 4).toInt()})}));
  }

  OnnxGraph& g_;
  std::string what_;
  std::unordered_map<Value*, Entry> env_;
};

const std::map<std::string, void (Translator::*)(Node*, std::vector<c10::IValue>&)>& Translator::table() {
  using T = Translator;
  static const std::map<std::string, void (Translator::*)(Node*, std::vector<c10::IValue>&)> t = {
      {"aten::conv2d", &T::convolution},
      {"aten::_convolution", &T::convolution},
      {"aten::batch_norm", &T::batch_norm},
      {"aten::relu", &T::unary},
      {"aten::relu_", &T::unary},
      {"aten::sigmoid", &T::unary},
      {"aten::sigmoid_", &T::unary},
      {"aten::tanh", &T::unary},
      {"aten::tanh_", &T::unary},
      {"aten::exp", &T::unary},
      {"aten::sqrt", &T::unary},
      {"aten::neg", &T::unary},
      {"aten::abs", &T::unary},
      {"aten::relu6", &T::clamp},
      {"aten::hardtanh", &T::clamp},
      {"aten::hardtanh_", &T::clamp},
      {"aten::clamp", &T::clamp},
      {"aten::clamp_", &T::clamp},
      {"aten::leaky_relu", &T::leaky_relu},
      {"aten::leaky_relu_", &T::leaky_relu},
      {"aten::gelu", &T::gelu},
      {"aten::silu", &T::silu},
      {"aten::silu_", &T::silu},
      {"aten::hardswish", &T::hardswish},
      {"aten::hardswish_", &T::hardswish},
      {"aten::hardsigmoid", &T::hardswish},
      {"aten::hardsigmoid_", &T::hardswish},
      {"aten::add", &T::arithmetic},
      {"aten::add_", &T::arithmetic},
      {"aten::sub", &T::arithmetic},
      {"aten::sub_", &T::arithmetic},
      {"aten::mul", &T::arithmetic},
      {"aten::mul_", &T::arithmetic},
      {"aten::div", &T::arithmetic},
      {"aten::div_", &T::arithmetic},
      {"aten::max_pool2d", &T::max_pool},
      {"aten::avg_pool2d", &T::avg_pool},
      {"aten::adaptive_avg_pool2d", &T::adaptive_avg_pool},
      {"aten::flatten", &T::reshape},
      {"aten::view", &T::reshape},
      {"aten::reshape", &T::reshape},
      {"aten::linear", &T::linear},
      {"aten::addmm", &T::addmm},
      {"aten::matmul", &T::matmul},
      {"aten::mm", &T::matmul},
      {"aten::permute", &T::permute},
      {"aten::transpose", &T::permute},
      {"aten::cat", &T::concat},
      {"aten::mean", &T::mean},
      {"aten::softmax", &T::softmax},
      {"aten::log_softmax", &T::softmax},
      {"aten::layer_norm", &T::layer_norm},
      {"aten::select", &T::select},
      {"aten::slice", &T::slice},
      {"aten::dropout", &T::identity},
      {"aten::dropout_", &T::identity},
      {"aten::feature_dropout", &T::identity},
      {"aten::alpha_dropout", &T::identity},
      {"aten::contiguous", &T::identity},
      {"aten::clone", &T::identity},
      {"aten::detach", &T::identity},
  };
  return t;
}

}  // namespace

const std::string& mapped_torchscript_operators() {
  static const std::string names = [] {
    std::set<std::string> bases;  // in-place twins (relu_) and overloads listed once, sorted
    for (const auto& [name, fn] : Translator::table()) {
      std::string base = name.substr(name.find("::") + 2);
      if (!base.empty() && base.back() == '_') base.pop_back();
      bases.insert(base);
    }
    std::string out;
    for (const auto& b : bases) out += (out.empty() ? "" : ", ") + b;
    return out;
  }();
  return names;
}

std::string append_torchscript_onnx(ScriptedModel& model, OnnxGraph& g, const std::string& x) {
  torch::NoGradGuard no_grad;
  const std::string what = model.path();
  torch::jit::Module frozen;
  try {
    torch::jit::Module copy = model.module().clone();
    copy.eval();
    copy.to(torch::kCPU);
    // A file saved after torch.jit.freeze is frozen already (its weights are constants).
    frozen = model.frozen() ? copy : torch::jit::freeze(copy);
  } catch (const std::exception& e) {
    throw Error(what + ": LibTorch cannot freeze the module for export (" + first_error_line(e) + ")");
  }
  std::shared_ptr<torch::jit::Graph> graph = frozen.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  const InputShape in = model.input_shape();
  // Fixed pixels (not the global random stream): values only decide shapes and branches.
  const int64_t count = kSampleBatch * in.channels * in.height * in.width;
  const torch::Tensor sample = torch::frac(torch::arange(count, torch::kDouble) * 0.6180339887498949)
                                   .to(torch::kFloat)
                                   .reshape({kSampleBatch, in.channels, in.height, in.width});
  Translator t(g, what);
  return t.run(*graph, x, sample);
}

}  // namespace kd
