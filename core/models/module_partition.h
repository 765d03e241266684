#pragma once
// The pure part of splitting an imported module tree into generalized layers (method.md
// section 1): type-name rules and the grouping of a flat module chain into layers. No tensors
// here; the probe that decides where a flatten is implicit lives in ScriptedModel.
#include <cstddef>
#include <string>
#include <vector>

namespace kd {

/// How an imported model was split into layers, best first.
enum class PartitionMode {
  kGeneralized,  ///< generalized layers of the module tree, verified against forward()
  kTopLevel,     ///< each top-level child is one layer (forward() is no chain of the leaves)
  kLogitsOnly,   ///< no layers: only the logits of forward() are usable
};

/// "generalized", "top_level" or "logits_only".
const char* partition_mode_name(PartitionMode mode);

/// The unqualified class name of a TorchScript type, without TorchScript's mangling:
/// "__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d" -> "Conv2d".
std::string plain_type_name(const std::string& qualified_name);

/// True for the nonlinearities after which a generalized layer ends:
/// ReLU, LeakyReLU, ReLU6, GELU, SiLU.
bool is_layer_nonlinearity(const std::string& type);
/// True for the blocks kept whole (each is one generalized layer): residual blocks BasicBlock
/// and Bottleneck, MobileNet's InvertedResidual, and transformer encoder blocks
/// TransformerEncoderLayer (PyTorch), EncoderBlock (torchvision ViT) and Block (timm ViT).
bool is_whole_block(const std::string& type);
/// True for pure containers, which the walk always descends into (even when empty):
/// Sequential, ModuleList, ModuleDict.
bool is_container(const std::string& type);

/// A reshape the chain inserts where forward() reshapes with a function instead of a module.
enum class InsertedReshape {
  kNone,
  kFlatten,               ///< torch.flatten(x, 1) before a Linear that takes the whole map
  kGlobalAvgPoolFlatten,  ///< adaptive_avg_pool2d(x, 1) + flatten before a Linear taking C
};

/// One module of the flattened module tree, in execution (= registration) order.
struct ChainModule {
  std::string path;                                         ///< dotted module path, e.g. "layer1.0"
  std::string type;                                         ///< plain type name, e.g. "BasicBlock"
  bool contains_linear = false;                             ///< it is or holds a Linear
  InsertedReshape reshape_before = InsertedReshape::kNone;  ///< found by the probe
};

/// One layer: chain modules [begin, end), then an optional inserted reshape. A span with no
/// modules is a layer made of the inserted reshape alone.
struct LayerSpan {
  size_t begin = 0;
  size_t end = 0;
  InsertedReshape reshape_after = InsertedReshape::kNone;
};

/// Layers in order, and the classifier tail: chain modules [tail_begin, size).
struct ChainPartition {
  std::vector<LayerSpan> layers;
  size_t tail_begin = 0;
};

/// Groups a chain by method.md section 1: a layer ends after a nonlinearity, a whole block or
/// a Flatten, and where a reshape is inserted (before the module that needs it). What follows
/// the last layer end is the tail.
ChainPartition partition_generalized(const std::vector<ChainModule>& chain);

/// Each module is one layer except the last, which is the tail; an inserted reshape ends the
/// layer before the module that needs it.
ChainPartition partition_top_level(const std::vector<ChainModule>& chain);

/// "Conv2d+BatchNorm2d+ReLU", "AdaptiveAvgPool2d+Flatten (inserted)".
std::string layer_kind(const std::vector<ChainModule>& chain, const LayerSpan& span);
/// Path of the layer's last module; "flatten before <path>" for an inserted reshape alone.
std::string layer_name(const std::vector<ChainModule>& chain, const LayerSpan& span);
/// Index of the first layer holding a Linear, or the number of layers when none does.
int first_head_layer(const std::vector<ChainModule>& chain, const ChainPartition& partition);

}  // namespace kd
