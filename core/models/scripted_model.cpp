#include "models/scripted_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/torch_compat.h"
#include "io/atomic_file.h"
#include "models/sdpa_operator.h"

namespace kd {

namespace {

// Seed of the probe batch that sizes the layers and verifies the partition.
constexpr uint64_t kProbeSeed = 20251124;
// Samples in the probe batch (two, so that batch-dependent bugs show).
constexpr int64_t kProbeBatch = 2;
// Tolerances of the chain-versus-forward() check.
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;
// Longest exception text quoted in a message to the user.
constexpr size_t kMaxReason = 300;
// Input shapes tried, in order, when neither the caller nor kdstudio.json gives one.
constexpr std::array<InputShape, 4> kProbedInputs = {
    {{1, 28, 28}, {3, 32, 32}, {3, 64, 64}, {3, 224, 224}}};

std::string shape_text(const InputShape& s) {
  return std::to_string(s.channels) + "x" + std::to_string(s.height) + "x" +
         std::to_string(s.width);
}

std::string sizes_text(torch::IntArrayRef sizes) {
  std::string text = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return text + "]";
}

// The part of a LibTorch exception worth showing: no C++ backtrace, and of a TorchScript
// traceback only its last line ("RuntimeError: ...").
std::string reason_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  if (lines.empty()) return "unknown error";
  std::string reason = text.find("Traceback") != std::string::npos ? lines.back() : lines.front();
  if (reason.size() > kMaxReason) reason = reason.substr(0, kMaxReason) + "...";
  return reason;
}

bool starts_like_zip(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

std::string type_name_of(const torch::jit::Module& m) {
  const auto name = m.type()->name();
  return name ? plain_type_name(name->qualifiedName()) : "Module";
}

bool holds_linear(const torch::jit::Module& m) {
  if (type_name_of(m) == "Linear") return true;
  for (const auto& sub : m.modules()) {
    if (type_name_of(sub) == "Linear") return true;
  }
  return false;
}

int64_t linear_in_features(const torch::jit::Module& m) {
  if (!m.hasattr("weight")) return -1;
  const c10::IValue w = m.attr("weight");
  return w.isTensor() && w.toTensor().dim() == 2 ? w.toTensor().size(1) : -1;
}

// The first tensor of a module's output (models may return (logits, extras)).
torch::Tensor first_tensor(const c10::IValue& out) {
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple()) {
    const auto& items = out.toTupleRef().elements();
    if (!items.empty() && items[0].isTensor()) return items[0].toTensor();
  }
  throw Error("forward() returns " + out.tagKind() + ", not a tensor of logits");
}

// Which reshape forward() must have done between `h` and a Linear taking `in` features.
InsertedReshape implicit_reshape(const torch::Tensor& h, int64_t in) {
  if (in <= 0 || h.dim() <= 2 || h.size(0) == 0 || h.size(-1) == in) return InsertedReshape::kNone;
  if (h.numel() / h.size(0) == in) return InsertedReshape::kFlatten;
  if (h.dim() == 4 && h.size(1) == in) return InsertedReshape::kGlobalAvgPoolFlatten;
  return InsertedReshape::kNone;
}

torch::Tensor apply_reshape(const torch::Tensor& h, InsertedReshape reshape) {
  switch (reshape) {
    case InsertedReshape::kFlatten:
      return h.flatten(1);
    case InsertedReshape::kGlobalAvgPoolFlatten:
      return torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
    case InsertedReshape::kNone:
      break;
  }
  return h;
}

// Appends the chain modules under `m`: descends into containers and into custom modules with
// children unless they are blocks kept whole; skips modules without a forward() (never run).
void collect_chain(const torch::jit::Module& m, const std::string& prefix, bool descend,
                   std::vector<torch::jit::Module>& modules, std::vector<ChainModule>& chain) {
  for (const auto& child : m.named_children()) {
    const std::string path = prefix.empty() ? child.name : prefix + "." + child.name;
    const std::string type = type_name_of(child.value);
    const bool has_children = child.value.children().size() > 0;
    if (descend && (is_container(type) || (has_children && !is_whole_block(type)))) {
      collect_chain(child.value, path, true, modules, chain);
    } else if (child.value.find_method("forward")) {
      modules.push_back(child.value);
      chain.push_back(ChainModule{path, type, holds_linear(child.value)});
    }
  }
}

// Evaluation mode without gradients for the probe runs; restores the training flag.
class ProbeScope {
 public:
  explicit ProbeScope(torch::jit::Module& m) : module_(m), was_training_(m.is_training()) {
    module_.eval();
  }
  ~ProbeScope() { module_.train(was_training_); }
  ProbeScope(const ProbeScope&) = delete;
  ProbeScope& operator=(const ProbeScope&) = delete;

 private:
  torch::jit::Module& module_;
  bool was_training_;
  torch::NoGradGuard no_grad_;
};

torch::Tensor make_probe(const InputShape& s) {
  auto generator = at::detail::createCPUGenerator(kProbeSeed);
  return torch::randn({kProbeBatch, s.channels, s.height, s.width}, generator);
}

std::optional<InputShape> shape_from_json(const nlohmann::json& j) {
  if (!j.is_array() || j.size() != 3) return std::nullopt;
  std::array<int64_t, 3> v{};
  for (size_t i = 0; i < 3; ++i) {
    if (!j[i].is_number_integer() || j[i].get<int64_t>() <= 0) return std::nullopt;
    v[i] = j[i].get<int64_t>();
  }
  return InputShape{v[0], v[1], v[2]};
}

// The whole message of a LibTorch exception without its C++ backtrace.
std::string full_text_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  return c10_error ? c10_error->what_without_backtrace() : e.what();
}

// What follows the file name in the message for a file torch::jit::load refused: a file that is
// no TorchScript archive says so; a valid archive this LibTorch cannot run names the reason
// (a missing operator, the constants of torch.jit.optimize_for_inference) and the way around it.
std::string load_failure_text(const std::string& reason, const std::string& full,
                              const std::string& how_to_save, bool is_torchscript) {
  const std::string here = "this build's LibTorch " + compat::torch_version();
  const auto op_at = full.find("Unknown builtin op: ");
  if (op_at != std::string::npos) {
    const auto begin = op_at + std::string("Unknown builtin op: ").size();
    const auto end = full.find_first_of(". \n", begin);
    const std::string op = full.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    return " is a TorchScript archive, but it calls the operator " + op + ", which " + here +
           " does not have (the file comes from a newer PyTorch). Save it with the PyTorch of " +
           "that LibTorch version, trace it in eval mode under torch.no_grad() (which records "
           "simpler operators), or use a KD Studio built on a newer LibTorch (Debian 13, or "
           "docs/gpu.md). See docs/models.md.";
  }
  if (full.find("required keyword attribute 'value' is undefined") != std::string::npos) {
    return " is a TorchScript archive made by torch.jit.optimize_for_inference (or freezing "
           "with its optimisations), whose folded constants " + here + " cannot read back. " +
           "Save the module before torch.jit.optimize_for_inference (torch.jit.script(model) or "
           "torch.jit.trace, then .save); KD Studio optimises for inference itself. (" + reason + ")";
  }
  if (is_torchscript) {
    return " is a TorchScript archive that " + here + " cannot load: " + reason +
           ". If a newer PyTorch saved it, save it with the PyTorch of this version or use a "
           "KD Studio built on a newer LibTorch (docs/models.md).";
  }
  if (reason.find(".pkl") != std::string::npos) {
    return " is not a TorchScript archive: it holds no TorchScript code (written by torch.save?); " +
           how_to_save + " (" + reason + ")";
  }
  if (reason.find("zip archive") != std::string::npos) {
    return " is not a TorchScript archive: the file is damaged or incomplete (" + reason + ")";
  }
  return " is not a TorchScript archive: " + reason;
}

// True when the file is a zip archive holding TorchScript code (a "code/" folder), whatever
// this LibTorch can make of it.
bool holds_torchscript_code(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const std::string& name : reader.getAllRecords()) {
      if (name.rfind("code/", 0) == 0) return true;
    }
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace

std::unique_ptr<ScriptedModel> load_torchscript(const std::string& path,
                                                std::optional<InputShape> input) {
  return ScriptedModel::load(path, input);
}

ScriptedModel::ScriptedModel(torch::jit::Module module, std::string path)
    : module_(std::move(module)), path_(std::move(path)) {}

std::unique_ptr<ScriptedModel> ScriptedModel::load(const std::string& path,
                                                   std::optional<InputShape> input) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(path + " does not exist or is not a file");
  }
  const std::string how_to_save =
      "save the model with torch.jit.script(model).save(path) or torch.jit.trace";
  if (!starts_like_zip(path)) {
    throw Error(path + " is not a TorchScript archive: it is not a zip file (" + how_to_save + ")");
  }
  torch::jit::ExtraFilesMap extra{{kTorchScriptMetaFile, ""}};
  torch::jit::Module module;
  (void)sdpa_operator_is_ours();  // links the attention operator into every loading program
  // No TensorExpr fusion: Debian 13's LibTorch 2.6 compiles every fused group with LLVM on the
  // CPU, which took minutes for a small traced ViT (the partition check runs many graphs once
  // each). PyTorch itself does not fuse on the CPU by default either.
  static std::once_flag fuser_off;
  std::call_once(fuser_off, [] { torch::jit::setTensorExprFuserEnabled(false); });
  try {
    module = torch::jit::load(path, torch::Device(torch::kCPU), extra);
  } catch (const std::exception& e) {
    throw Error(path + load_failure_text(reason_of(e), full_text_of(e), how_to_save,
                                          holds_torchscript_code(path)));
  }
  std::unique_ptr<ScriptedModel> model(new ScriptedModel(std::move(module), path));
  model->resolve_input(input, extra[kTorchScriptMetaFile]);
  model->build_partition();
  return model;
}

std::string ScriptedModel::architecture() const { return "torchscript:" + path_; }

torch::Tensor ScriptedModel::probe_forward(const InputShape& shape) {
  ProbeScope scope(module_);
  c10::IValue out;
  try {
    out = module_.forward({make_probe(shape)});
  } catch (const std::exception& e) {
    throw Error(path_ + ": the model does not run on inputs of shape " + shape_text(shape) + ": " +
                reason_of(e));
  }
  torch::Tensor logits;
  try {
    logits = first_tensor(out);
  } catch (const Error& e) {
    throw Error(path_ + ": " + e.what());
  }
  if (logits.dim() != 2 || logits.size(0) != kProbeBatch) {
    throw Error(path_ + ": forward() gives outputs of shape " + sizes_text(logits.sizes()) +
                " for a batch of " + std::to_string(kProbeBatch) +
                "; a classifier must give logits of shape [batch, classes]");
  }
  return logits;
}

void ScriptedModel::resolve_input(std::optional<InputShape> input, const std::string& meta) {
  std::optional<int64_t> meta_classes;
  if (!meta.empty()) {
    const nlohmann::json j = nlohmann::json::parse(meta, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      throw Error(path_ + ": its " + kTorchScriptMetaFile + " extra file is not a JSON object");
    }
    if (j.contains("input_shape") && !input) {
      input = shape_from_json(j["input_shape"]);
      if (!input) {
        throw Error(path_ + ": " + kTorchScriptMetaFile + " has input_shape " +
                    j["input_shape"].dump() + "; expected [channels, height, width]");
      }
    }
    if (j.contains("num_classes")) {
      if (!j["num_classes"].is_number_integer()) {
        throw Error(path_ + ": " + kTorchScriptMetaFile + " has num_classes " +
                    j["num_classes"].dump() + "; expected a whole number");
      }
      meta_classes = j["num_classes"].get<int64_t>();
    }
  }
  torch::Tensor logits;
  if (input) {
    logits = probe_forward(*input);
    input_shape_ = *input;
  } else {
    std::string tried;
    for (const InputShape& candidate : kProbedInputs) {
      try {
        logits = probe_forward(candidate);
        input_shape_ = candidate;
        break;
      } catch (const Error&) {
        tried += (tried.empty() ? "" : ", ") + shape_text(candidate);
      }
    }
    if (!logits.defined()) {
      throw Error(path_ + ": the model runs on none of the usual input shapes (" + tried +
                  "); pass its input shape (channels x height x width) when importing it");
    }
  }
  num_classes_ = logits.size(1);
  if (meta_classes && *meta_classes != num_classes_) {
    throw Error(path_ + ": " + kTorchScriptMetaFile + " says " + std::to_string(*meta_classes) +
                " classes but the model gives " + std::to_string(num_classes_) + " logits");
  }
}

void ScriptedModel::build_partition() {
  ProbeScope scope(module_);
  const torch::Tensor probe = make_probe(input_shape_);
  // Clones everywhere: a module may work in place (ReLU(inplace=True)) on its input.
  const torch::Tensor expected = first_tensor(module_.forward({probe.clone()}));

  // torch.jit.freeze inlines every submodule and turns the weights into constants: nothing is
  // left to split into layers.
  if (module_.children().size() == 0 && module_.parameters().size() == 0) {
    mode_ = PartitionMode::kLogitsOnly;
    frozen_ = true;
    message_ = "The model has no submodules or parameters left: it was saved after "
               "torch.jit.freeze (or optimize_for_inference), which inlines its layers. Save the "
               "module before torch.jit.freeze to see its layers; only logits are available "
               "(evaluation and logit distillation still work).";
    return;
  }
  std::vector<torch::jit::Module> modules;
  std::vector<ChainModule> chain;
  collect_chain(module_, "", true, modules, chain);
  std::string why_generalized;
  if (try_chain(PartitionMode::kGeneralized, modules, chain, probe, expected, &why_generalized)) {
    message_ = "Imported as " + std::to_string(num_layers()) +
               " generalized layers; running them in order reproduces the model's own output.";
    for (const ChainModule& m : chain_) {
      if (m.reshape_before == InsertedReshape::kFlatten) {
        message_ +=
            " forward() flattens implicitly, so a Flatten was inserted before " + m.path + ".";
      } else if (m.reshape_before == InsertedReshape::kGlobalAvgPoolFlatten) {
        message_ +=
            " forward() pools and flattens implicitly, so a global average pool and "
            "a Flatten were inserted before " +
            m.path + ".";
      }
    }
    return;
  }

  modules.clear();
  chain.clear();
  collect_chain(module_, "", false, modules, chain);
  std::string why_top_level;
  if (try_chain(PartitionMode::kTopLevel, modules, chain, probe, expected, &why_top_level)) {
    message_ = "forward() is not a plain chain of its modules (" + why_generalized +
               "); its top-level children are used as " + std::to_string(num_layers()) +
               " layers instead. Layer features, feature distillation and layer analysis work "
               "at this coarser granularity.";
    return;
  }

  mode_ = PartitionMode::kLogitsOnly;
  message_ = "forward() is not a plain chain of its children (" + why_top_level +
             "); only the logits can be used: layer features, feature distillation and layer "
             "analysis are unavailable for this model. Evaluation and logit distillation "
             "still work.";
}

bool ScriptedModel::try_chain(PartitionMode mode, std::vector<torch::jit::Module> modules,
                              std::vector<ChainModule> chain, const torch::Tensor& probe,
                              const torch::Tensor& expected, std::string* why) {
  torch::Tensor h = probe.clone();
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].type == "Linear") {
      chain[i].reshape_before = implicit_reshape(h, linear_in_features(modules[i]));
    }
    h = apply_reshape(h, chain[i].reshape_before);
    try {
      h = modules[i].forward({h}).toTensor();
    } catch (const std::exception& e) {
      *why =
          "the layer chain fails at " + chain[i].path + " (" + chain[i].type + "): " + reason_of(e);
      return false;
    }
  }
  if (h.sizes() != expected.sizes()) {
    *why = "the layer chain gives outputs of shape " + sizes_text(h.sizes()) + " instead of " +
           sizes_text(expected.sizes());
    return false;
  }
  if (!torch::allclose(h, expected, kRtol, kAtol)) {
    char diff[32];
    std::snprintf(diff, sizeof diff, "%.3g", (h - expected).abs().max().item<double>());
    *why = std::string("its output differs from the layer chain's by up to ") + diff;
    return false;
  }
  ChainPartition partition = mode == PartitionMode::kGeneralized ? partition_generalized(chain)
                                                                 : partition_top_level(chain);
  if (partition.layers.empty()) {
    *why =
        "it has no layer boundary (no ReLU-like nonlinearity, block or flatten) before its "
        "last module";
    return false;
  }
  mode_ = mode;
  chain_modules_ = std::move(modules);
  chain_ = std::move(chain);
  partition_ = std::move(partition);
  describe_layers(probe);
  return true;
}

void ScriptedModel::describe_layers(const torch::Tensor& probe) {
  layers_.clear();
  head_start_ = first_head_layer(chain_, partition_);
  torch::Tensor h = probe.clone();
  for (size_t l = 0; l < partition_.layers.size(); ++l) {
    const LayerSpan& span = partition_.layers[l];
    for (size_t i = span.begin; i < span.end; ++i) h = run_module(i, h);
    h = apply_reshape(h, span.reshape_after);
    LayerInfo info;
    info.index = static_cast<int>(l);
    info.name = layer_name(chain_, span);
    info.kind = layer_kind(chain_, span);
    info.shape.assign(h.sizes().begin() + 1, h.sizes().end());
    for (size_t i = span.begin; i < span.end; ++i) {
      for (const auto& p : chain_modules_[i].parameters()) info.params += p.numel();
    }
    info.in_head = info.index >= head_start_;
    layers_.push_back(std::move(info));
  }
}

torch::Tensor ScriptedModel::run_module(size_t index, const torch::Tensor& x) {
  try {
    return chain_modules_[index].forward({x}).toTensor();
  } catch (const std::exception& e) {
    throw Error(path_ + ": module " + chain_[index].path + " (" + chain_[index].type +
                ") failed: " + reason_of(e));
  }
}

torch::Tensor ScriptedModel::forward_range(const torch::Tensor& x, int first, int last) {
  if (last < first) return x;
  check_layer(first);
  check_layer(last);
  torch::Tensor h = x;
  for (int l = first; l <= last; ++l) {
    const LayerSpan& span = partition_.layers[static_cast<size_t>(l)];
    for (size_t i = span.begin; i < span.end; ++i) h = run_module(i, h);
    h = apply_reshape(h, span.reshape_after);
  }
  return h;
}

torch::Tensor ScriptedModel::forward_tail(const torch::Tensor& x) {
  if (mode_ == PartitionMode::kLogitsOnly) return forward(x);
  torch::Tensor h = x;
  for (size_t i = partition_.tail_begin; i < chain_modules_.size(); ++i) h = run_module(i, h);
  return h;
}

torch::Tensor ScriptedModel::forward(const torch::Tensor& x) {
  c10::IValue out;
  try {
    out = module_.forward({x});
  } catch (const std::exception& e) {
    throw Error(path_ + ": forward() failed: " + reason_of(e));
  }
  try {
    return first_tensor(out);
  } catch (const Error& e) {
    throw Error(path_ + ": " + e.what());
  }
}

std::vector<torch::Tensor> ScriptedModel::parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> ScriptedModel::named_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module_.named_parameters()) out.emplace_back(p.name, p.value);
  for (const auto& b : module_.named_buffers()) out.emplace_back(b.name, b.value);
  return out;
}

void ScriptedModel::set_training(bool on) { module_.train(on); }

void ScriptedModel::to(const torch::Device& device) { module_.to(device); }

void ScriptedModel::save_torchscript(const std::string& path,
                                     const std::map<std::string, std::string>& metadata) const {
  nlohmann::json meta = {
      {"input_shape", {input_shape_.channels, input_shape_.height, input_shape_.width}},
      {"num_classes", num_classes_}};
  for (const auto& [key, value] : metadata) meta[key] = value;
  const torch::jit::ExtraFilesMap extra{{kTorchScriptMetaFile, meta.dump()}};
  std::ostringstream bytes;
  try {
    module_.save(bytes, extra);
  } catch (const std::exception& e) {
    throw Error("could not save " + path + ": " + reason_of(e));
  }
  const std::string data = bytes.str();
  AtomicFile file(path);
  file.write(data.data(), data.size());
  file.commit();
}

}  // namespace kd
