#pragma once
#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/layered_model.h"
#include "models/module_partition.h"

namespace kd {

/// Name of the extra file in a TorchScript archive that records what KD Studio needs to know:
/// {"input_shape": [C, H, W], "num_classes": K}.
inline constexpr const char* kTorchScriptMetaFile = "kdstudio.json";

/// A model imported from a TorchScript archive (torch.jit.script or torch.jit.trace), seen as
/// generalized layers of its module tree (method.md section 1). The partition is verified on a
/// probe batch against the module's own forward(); when forward() is not a chain of its
/// modules the model falls back to its top-level children, or to its logits only, and
/// partition_message() says so in plain words.
class ScriptedModel final : public LayeredModel {
 public:
  /// Loads `path` onto the CPU. The input shape comes from `input`, else from the archive's
  /// kdstudio.json, else from the first of 1x28x28, 3x32x32, 3x64x64, 3x224x224 that runs.
  /// Throws kd::Error naming the file when it is not a usable TorchScript classifier.
  static std::unique_ptr<ScriptedModel> load(const std::string& path,
                                             std::optional<InputShape> input = {});

  /// "torchscript:<path it was loaded from>".
  std::string architecture() const override;
  const std::vector<LayerInfo>& layers() const override { return layers_; }
  InputShape input_shape() const override { return input_shape_; }
  int64_t num_classes() const override { return num_classes_; }
  int head_start() const override { return head_start_; }

  torch::Tensor forward_range(const torch::Tensor& x, int first, int last) override;
  torch::Tensor forward_tail(const torch::Tensor& x) override;
  /// The module's own forward() (its first output when it returns a tuple).
  torch::Tensor forward(const torch::Tensor& x) override;

  std::vector<torch::Tensor> parameters() override;
  std::vector<std::pair<std::string, torch::Tensor>> named_state() override;
  void set_training(bool on) override;
  void to(const torch::Device& device) override;

  /// Which partition was verified: generalized, top-level children, or logits only.
  PartitionMode partition_mode() const { return mode_; }
  /// What happened and what still works, in plain language for the user.
  const std::string& partition_message() const { return message_; }
  /// True when the file was saved after torch.jit.freeze (no submodules or parameters left).
  bool frozen() const { return frozen_; }
  /// The file the model was loaded from.
  const std::string& path() const { return path_; }
  /// The underlying TorchScript module (shares its parameters with this model).
  torch::jit::Module& module() { return module_; }

  /// Writes the module with its current weights and a kdstudio.json extra file to `path`
  /// atomically (a temporary file renamed over the target). `metadata` entries (e.g. a
  /// DeployInfo's) are added to kdstudio.json. Throws kd::Error on failure.
  void save_torchscript(const std::string& path,
                        const std::map<std::string, std::string>& metadata = {}) const;

 private:
  ScriptedModel(torch::jit::Module module, std::string path);

  // Runs the module on a probe batch of `shape`; returns the logits or throws kd::Error.
  torch::Tensor probe_forward(const InputShape& shape);
  void resolve_input(std::optional<InputShape> input, const std::string& meta_json);
  void build_partition();
  // Tries one chain; on success adopts it and returns true, else sets *why and returns false.
  bool try_chain(PartitionMode mode, std::vector<torch::jit::Module> modules,
                 std::vector<ChainModule> chain, const torch::Tensor& probe,
                 const torch::Tensor& expected, std::string* why);
  void describe_layers(const torch::Tensor& probe);
  torch::Tensor run_module(size_t index, const torch::Tensor& x);

  torch::jit::Module module_;
  std::string path_;
  InputShape input_shape_;
  int64_t num_classes_ = 0;
  PartitionMode mode_ = PartitionMode::kLogitsOnly;
  std::string message_;
  bool frozen_ = false;
  std::vector<torch::jit::Module> chain_modules_;
  std::vector<ChainModule> chain_;
  ChainPartition partition_;
  std::vector<LayerInfo> layers_;
  int head_start_ = 0;
};

/// Same as ScriptedModel::load.
std::unique_ptr<ScriptedModel> load_torchscript(const std::string& path,
                                                std::optional<InputShape> input = {});

}  // namespace kd
