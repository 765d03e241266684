// Import of the configs of the authors' KD_wo_CE code (method.md section 7). The mapping, key by
// key, and the reasons for what is refused are in docs/experiments.md.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "common/error.h"
#include "experiment/experiment_config.h"

namespace kd {
namespace {

using json = nlohmann::json;

/// Every key the authors' code reads from a config (their experiment files, BaselineConfig.cjson
/// and main.py's TestBench).
const std::set<std::string>& paper_keys() {
  // clang-format off
  static const std::set<std::string> keys = {
      "AttnArchitecture", "AttnInput", "AugmentTeacher", "AvgTokens", "BackboneLRMultiplier",
      "BatchNorm", "BatchSize", "CELossWeight", "CheckpointInterval", "DataAugmentation",
      "Dataset", "DownSample", "EmbedDimension", "EvalInterval", "ExpPower", "ExpPowersetErasing",
      "FeatureKD", "Kn", "Kp", "LGLossWeight", "LRScheduler", "LRStepMult", "LRSteps",
      "LSLossWeight", "LandmarkMethod", "LandmarkPostScaleFactor", "LayerMap", "LayerMapWeights",
      "LayerMappingMethod", "LearnProjectors", "LearnTeacherClassifier", "LearningRate", "Logits",
      "MaxLR", "Model", "Normalization", "NormalizeLogits", "NumEpochs", "NumRuns", "Optimizer",
      "PctStart", "PoolMode", "PreTrained", "ProjectionMethod", "ProjectorArchitecture",
      "RelationFunction", "SaveModel", "SaveResult", "SeperateLinear", "StoreFeatures",
      "StudentLayers", "StudentPartitions", "Subset", "Teacher", "TeacherLayers",
      "TeacherPartitions", "TeacherPowers", "Temperature", "UseCELoss", "UseCosineLoss",
      "UseCustomReLU", "UseGlobalCenter", "UseHuberLoss", "UseTeacherClassifier", "VanillaKD",
      "WeightDecay"};
  // clang-format on
  return keys;
}

/// Keys that only steer the authors' bookkeeping or memory use: imported as a note.
const std::vector<std::string> kBookkeepingKeys = {"CheckpointInterval", "EvalInterval",
                                                   "SaveModel", "SaveResult", "StoreFeatures"};

struct PaperDataset {
  const char* name;
  const char* spec;  ///< with a placeholder folder the user must point at their copy
  const char* what;
  int64_t classes;
  int64_t size;
};
const std::vector<PaperDataset> kDatasets = {
    {"CIFAR10", "cifar10:~/datasets/cifar-10-batches-bin", "CIFAR-10 (binary version)", 10, 32},
    {"CIFAR100F", "cifar100:~/datasets/cifar-100-binary", "CIFAR-100 (binary version)", 100, 32},
    {"CIFAR100C", "cifar100:~/datasets/cifar-100-binary?labels=coarse",
     "CIFAR-100 (binary version)", 20, 32},
    {"TinyImagenet", "folder:~/datasets/tiny-imagenet-200?size=64", "Tiny-ImageNet", 200, 64},
};

/// The paper's model names, our zoo architecture and its standard layers (method.md section 5).
struct PaperModel {
  const char* name;
  const char* arch;
  std::vector<int64_t> standard;
};
const std::vector<PaperModel> kModels = {
    {"ResNet9", "resnet9", {1, 2, 3, 4}},     {"ResNet18", "resnet18", {}},
    {"ResNet34", "resnet34", {3, 7, 13, 16}}, {"MobileNetV2", "mobilenetv2", {3, 6, 13, 17}},
    {"VGG11", "vgg11_bn", {1, 3, 5, 7}},      {"VGG19", "vgg19_bn", {3, 7, 11, 15}},
    {"ViT_B", "vit_b", {2, 4, 8, 10}},        {"ViT_ETT", "vit_ett", {1, 3, 5, 7}},
};

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string list_text(const std::vector<int64_t>& values) {
  std::string out;
  for (const int64_t v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return "[" + out + "]";
}

bool same_name(const std::string& a, const std::string& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

/// Typed reads of the paper's keys; a wrong type throws at once, naming the key.
class PaperReader {
 public:
  PaperReader(const json& root, std::string origin) : root_(root), origin_(std::move(origin)) {}

  bool has(const std::string& key) const { return root_.contains(key); }
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw Error(origin_ + ": " + key + ": expected " + expected + ", got " + root_.at(key).dump());
  }
  bool flag(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!root_.at(key).is_boolean()) fail(key, "true or false");
    return root_.at(key).get<bool>();
  }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!root_.at(key).is_number()) fail(key, "a number");
    return root_.at(key).get<double>();
  }
  int64_t positive_int(const std::string& key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = root_.at(key);
    const double d = v.is_number() ? v.get<double>() : 0;
    if (d < 1 || d > 1e9 || d != static_cast<double>(static_cast<int64_t>(d))) {
      fail(key, "a positive integer");
    }
    return static_cast<int64_t>(d);
  }
  std::string text(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!root_.at(key).is_string()) fail(key, "a string");
    return root_.at(key).get<std::string>();
  }
  std::vector<int64_t> ints(const std::string& key) const {
    std::vector<int64_t> out;
    if (!has(key)) return out;
    const json& v = root_.at(key);
    if (!v.is_array()) fail(key, "a list of integers");
    for (const auto& item : v) {
      if (!item.is_number_integer()) fail(key, "a list of integers");
      out.push_back(item.get<int64_t>());
    }
    return out;
  }
  /// One of `choices` (exact spelling, as the authors' code compares).
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& choices) const {
    const std::string value = text(key, fallback);
    if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
      fail(key, "one of " + join(choices, ", "));
    }
    return value;
  }
  /// The value for messages: strings unquoted, "unset" when absent.
  std::string shown(const std::string& key) const {
    if (!has(key)) return "unset";
    const json& v = root_.at(key);
    return v.is_string() ? v.get<std::string>() : v.dump();
  }
  /// True when `key` is absent or holds `expected` (as JSON).
  bool is_default(const std::string& key, const json& expected) const {
    return !has(key) || root_.at(key) == expected;
  }
  const std::string& origin() const { return origin_; }

 private:
  const json& root_;
  std::string origin_;
};

/// What the import found: refusals collected so the user sees all of them at once.
struct ImportState {
  std::vector<std::string> problems;
  std::vector<std::string> notes;
  void refuse(const std::string& key, const std::string& why) {
    problems.push_back(key + ": " + why);
  }
};

/// The method the paper's switches select (their Trainer.py: which losses are summed and where
/// the head is detached). A combination we cannot express throws, naming the switches.
Method paper_method(const PaperReader& r, bool standard_layers) {
  const auto no_method = [&r](std::initializer_list<const char*> keys, const std::string& why) {
    std::vector<std::string> settings;
    for (const char* key : keys) settings.push_back(std::string(key) + "=" + r.shown(key));
    throw Error(r.origin() + ": the combination " + join(settings, ", ") + " (" + why +
                ") has no KD Studio method; docs/experiments.md lists what imports");
  };
  const bool vkd = r.flag("VanillaKD", false);
  const bool fkd = r.flag("FeatureKD", false);
  const bool sep = r.flag("SeperateLinear", false);
  const bool normalize = vkd && r.flag("NormalizeLogits", false);
  if (!fkd) {
    if (sep) no_method({"FeatureKD", "SeperateLinear"}, "a head on an untrained backbone");
    if (!vkd) return Method::kStudent;
    return normalize ? Method::kKDStandardized : Method::kKD;
  }
  if (normalize) no_method({"FeatureKD", "NormalizeLogits"}, "standardized KD + feature losses");
  const std::string projection = r.choice("ProjectionMethod", "LearnedProjector",
                                          {"LearnedProjector", "RelationFunction", "PCA"});
  const std::string mapping = r.choice("LayerMappingMethod", "One2One",
                                       {"One2One", "FullyConnected", "LearnedAttn", "PreDefined"});
  if (projection == "PCA") no_method({"ProjectionMethod"}, "PCA landmark targets");
  if (mapping == "PreDefined") no_method({"LayerMappingMethod"}, "a hand-written layer map");
  if (projection == "RelationFunction") {
    if (r.text("RelationFunction", "DotProd") != "DotProd") {
      no_method({"ProjectionMethod", "RelationFunction"}, "only the SP dot product imports");
    }
    if (!vkd || sep || mapping != "One2One") {
      no_method({"ProjectionMethod", "VanillaKD", "SeperateLinear", "LayerMappingMethod"},
                "sp is CE + KD + SP loss, one-to-one, head attached");
    }
    return Method::kSimilarityPreserving;
  }
  if (r.flag("UseTeacherClassifier", false)) {
    if (!r.flag("LearnTeacherClassifier", false)) {
      no_method({"UseTeacherClassifier", "LearnTeacherClassifier"}, "a frozen teacher head");
    }
    if (!vkd || sep || mapping != "One2One") {
      no_method({"UseTeacherClassifier", "VanillaKD", "SeperateLinear", "LayerMappingMethod"},
                "simkd is CE + KD through a trainable copy of the teacher's tail");
    }
    return Method::kSimKD;
  }
  if (mapping != "One2One") {
    if (!vkd || sep) {
      no_method({"LayerMappingMethod", "VanillaKD", "SeperateLinear"},
                "fitnets_all and semckd are CE + KD + feature losses, head attached");
    }
    return mapping == "FullyConnected" ? Method::kFitNetsAllPairs : Method::kSemCKD;
  }
  if (sep) {
    if (vkd) no_method({"SeperateLinear", "VanillaKD"}, "KD on the detached head only");
    return Method::kOurs;
  }
  if (!vkd) return Method::kOursCE;
  return standard_layers ? Method::kFitNets : Method::kOursKD;
}

const PaperModel* find_model(const std::string& name) {
  for (const auto& m : kModels) {
    if (same_name(m.name, name)) return &m;
  }
  return nullptr;
}

/// "Model" or "Teacher" as a zoo spec for the dataset; nullptr model = refused.
std::string zoo_spec(const PaperReader& r, const std::string& key, const PaperDataset* data,
                     ImportState& state, const PaperModel** model) {
  const std::string name = r.text(key, "");
  *model = find_model(name);
  if (name.empty())
    throw Error(r.origin() + ": " + key + ": required: a model name such as ResNet9");
  if (!*model) {
    std::vector<std::string> names;
    for (const auto& m : kModels) names.push_back(m.name);
    state.refuse(key, "'" + name + "' has no counterpart in KD Studio's zoo (importable: " +
                          join(names, ", ") + ")");
    return {};
  }
  if (!data) return (*model)->arch;
  std::string spec = std::string((*model)->arch) +
                     ":channels=3,size=" + std::to_string(data->size) +
                     ",classes=" + std::to_string(data->classes);
  if (data->size >= 64) spec += ",downsample=on";  // method.md section 7: stems downsample
  return spec;
}

/// A setting we cannot honour unless it holds the value given here.
struct Refusal {
  const char* key;
  json required;
  const char* why;
  bool feature_kd_only;  ///< only read by the authors' code when FeatureKD is true
};

void refuse_unsupported(const PaperReader& r, bool fkd, ImportState& s) {
  static const std::vector<Refusal> refusals = {
      {"PreTrained", false,
       "ImageNet weights cannot be downloaded in KD Studio; set it to false to train from "
       "scratch, or distil from your own trained teacher file",
       false},
      {"BatchNorm", true, "the zoo's models always use batch norm", false},
      {"UseCustomReLU", false, "GenReLU activations are not in the zoo", false},
      {"Normalization", "MeanVar", "inputs are always standardized per channel (MeanVar)", false},
      {"DownSample", -1, "downsampling the dataset's images is not supported", false},
      {"ExpPowersetErasing", false, "not supported", false},
      {"UseCosineLoss", false, "feature losses are mean squared errors only", true},
      {"UseHuberLoss", false, "feature losses are mean squared errors only", true},
      {"TeacherPowers", json::array(), "power transforms of teacher features are not supported",
       true},
      {"PoolMode", true, "the larger map is always pooled; upsampling is not supported", true},
      {"LearnProjectors", true, "projectors are always trained", true},
  };
  for (const auto& refusal : refusals) {
    if ((fkd || !refusal.feature_kd_only) && !r.is_default(refusal.key, refusal.required)) {
      s.refuse(refusal.key, r.shown(refusal.key) + " is not supported: " + refusal.why);
    }
  }
  if (fkd && r.text("LayerMappingMethod", "One2One") == "LearnedAttn") {
    for (const char* key : {"StudentPartitions", "TeacherPartitions"}) {
      if (!r.ints(key).empty()) s.refuse(key, "semckd attends over all listed layers");
    }
    if (!r.is_default("AttnArchitecture", json::array({256, 128})) ||
        !r.is_default("AttnInput", "DPS")) {
      s.refuse("AttnArchitecture/AttnInput", "semckd's attention is fixed (docs/method.md)");
    }
  }
}

void import_optimizer(const PaperReader& r, ExperimentConfig& c, ImportState& s) {
  const std::string optimizer = r.text("Optimizer", "AdamW");
  const double decay = r.number("WeightDecay", -1);
  if (optimizer == "AdamW" || optimizer == "Adam") {
    c.optimizer = "adamw";
    if (optimizer == "Adam") {  // their Adam has weight decay 0: AdamW with 0 is the same
      c.weight_decay = 0.0;
      s.notes.push_back("Optimizer Adam imported as adamw with weight_decay 0 (the same update)");
    } else if (decay >= 0) {
      c.weight_decay = decay;
    }
  } else if (optimizer == "SGD") {
    c.optimizer = "sgd";
    c.weight_decay = decay >= 0 ? decay : 1e-4;  // their SGD default
  } else {
    s.refuse("Optimizer", "'" + optimizer + "' is not supported (AdamW, Adam or SGD)");
  }
  const std::string schedule = r.text("LRScheduler", "OneCycle");
  if (schedule == "OneCycle") {
    c.schedule = "onecycle";
    const double max_lr = r.number("MaxLR", -1);
    if (max_lr > 0) c.lr = max_lr;  // else the student family's default, as LookupModelMaxLR
    c.pct_start = r.number("PctStart", c.pct_start);
    return;
  }
  const double lr = r.number("LearningRate", 0.01);
  if (lr <= 0) r.fail("LearningRate", "a positive number");
  c.lr = lr;
  if (schedule == "MultiStep") {
    const auto steps = r.ints("LRSteps");
    c.schedule = steps.empty() ? "constant" : "multistep";
    c.milestones = steps;
    if (steps.empty())
      s.notes.push_back(
          "MultiStep without LRSteps keeps the LR constant: imported as schedule constant");
    c.gamma = r.number("LRStepMult", 0.1);
    if (!steps.empty() && c.gamma <= 0) r.fail("LRStepMult", "a positive number");
  } else if (schedule.empty() || schedule == "None") {
    c.schedule = "constant";
  } else {
    s.refuse("LRScheduler", "'" + schedule + "' is not supported (OneCycle, MultiStep or None)");
  }
}

void import_losses(const PaperReader& r, ExperimentConfig& c, bool vkd, bool fkd) {
  c.ce_weight = r.flag("UseCELoss", true) ? r.number("CELossWeight", 1) : 0.0;
  if (c.ce_weight < 0) r.fail("CELossWeight", "a number >= 0");
  if (vkd) {
    c.temperature = r.number("Temperature", 4);
    if (c.temperature <= 0) r.fail("Temperature", "a positive number");
    // Their loss is LGLossWeight * KL; ours is kd_weight * T^2 * KL.
    const double lg = r.number("LGLossWeight", c.temperature * c.temperature);
    if (lg < 0) r.fail("LGLossWeight", "a number >= 0");
    c.kd_weight = lg / (c.temperature * c.temperature);
  }
  if (fkd) {
    c.feature_weight = r.number("LSLossWeight", 1);
    if (c.feature_weight < 0) r.fail("LSLossWeight", "a number >= 0");
    const std::string projector = r.text("ProjectorArchitecture", "SingleLayerConv");
    if (projector != "SingleLayerConv" && projector != "ThreeLayerConv") {
      r.fail("ProjectorArchitecture", "SingleLayerConv or ThreeLayerConv");
    }
    c.projector = projector;
  }
}

std::optional<LayerChoice> explicit_layers(const PaperReader& r, const std::string& key,
                                           ImportState& s) {
  const auto indices = r.ints(key);
  if (indices.empty()) return std::nullopt;
  LayerChoice choice;
  choice.kind = LayerChoice::Kind::kExplicit;
  for (const int64_t i : indices) {
    if (i < 0) {
      s.refuse(key, "index " + std::to_string(i) +
                        " counts from the end in the paper's code; give "
                        "the layer's index from the start (see the model's layer list)");
      return std::nullopt;
    }
    choice.indices.push_back(static_cast<int>(i));
  }
  return choice;
}

std::string stem_of(const std::string& origin) {
  const std::filesystem::path path(origin);
  return path.extension() == ".json" ? path.stem().string() : std::string();
}

}  // namespace

bool is_paper_config(const std::string& text) {
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object() || root.contains("format")) return false;
  int hits = 0;
  for (const char* key : {"Dataset", "Model", "Teacher", "VanillaKD", "FeatureKD", "NumEpochs",
                          "BatchSize", "LRScheduler", "SeperateLinear", "NumRuns"}) {
    hits += root.contains(key) ? 1 : 0;
  }
  return hits >= 2;
}

ImportedExperiment import_paper_config(const std::string& text, const std::string& origin) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    const std::string message = e.what();  // "[json.exception.parse_error.101] parse error at..."
    const size_t start = message.rfind("] ", 40);
    throw Error(origin + ": not valid JSON: " +
                (start == std::string::npos ? message : message.substr(start + 2)));
  }
  if (!root.is_object()) throw Error(origin + ": expected a JSON object of the paper's settings");
  std::vector<std::string> unknown;
  for (const auto& item : root.items()) {
    if (!paper_keys().count(item.key())) unknown.push_back(item.key());
  }
  if (!unknown.empty()) {
    throw Error(origin + ": keys the paper's configs do not have: " + join(unknown, ", "));
  }
  const PaperReader r(root, origin);
  ImportState s;
  ExperimentConfig c;
  c.name = stem_of(origin);

  const std::string dataset = r.text("Dataset", "");
  const PaperDataset* data = nullptr;
  for (const auto& d : kDatasets) {
    if (d.name == dataset) data = &d;
  }
  if (data) {
    c.dataset = data->spec;
    s.notes.push_back("Dataset " + dataset + " became \"" + c.dataset +
                      "\": point \"dataset\" at your copy of " + data->what);
  } else {
    s.refuse("Dataset",
             "'" + dataset + "' is not importable (CIFAR10, CIFAR100F, CIFAR100C, TinyImagenet)");
  }
  const PaperModel* student = nullptr;
  const PaperModel* teacher = nullptr;
  c.student = zoo_spec(r, "Model", data, s, &student);
  const bool vkd = r.flag("VanillaKD", false);
  const bool fkd = r.flag("FeatureKD", false);
  if (vkd || fkd) {
    c.teacher = zoo_spec(r, "Teacher", data, s, &teacher);
    if (teacher) {
      s.notes.push_back("Teacher " + r.text("Teacher", "") +
                        " names an architecture, not weights: "
                        "replace \"teacher\" (" +
                        c.teacher + ") with your trained teacher file");
    }
  }
  if (fkd) {
    c.teacher_layers = explicit_layers(r, "TeacherLayers", s);
    c.student_layers = explicit_layers(r, "StudentLayers", s);
    if (!c.teacher_layers || !c.student_layers) {
      s.notes.push_back(
          "TeacherLayers/StudentLayers empty: KD Studio's defaults choose the layers");
    }
  }
  const bool standard = teacher && student && c.teacher_layers && c.student_layers &&
                        r.ints("TeacherLayers") == teacher->standard &&
                        r.ints("StudentLayers") == student->standard;
  c.method = paper_method(r, standard);
  const bool ours =
      c.method == Method::kOurs || c.method == Method::kOursCE || c.method == Method::kOursKD;
  if (ours && c.teacher_layers && !standard) {
    s.notes.push_back("teacher_layers " + list_text(r.ints("TeacherLayers")) +
                      " were chosen on the authors' teacher; set \"teacher_layers\": \"Q\" to rank "
                      "your teacher's layers instead");
  }
  if (c.method == Method::kSimKD) {
    s.notes.push_back(
        "simkd follows method.md section 5; the paper's code also adds a feature loss at "
        "every listed layer pair");
  }
  const bool vit = (student && std::string(student->arch).rfind("vit", 0) == 0) ||
                   (teacher && std::string(teacher->arch).rfind("vit", 0) == 0);
  if (vit && !r.is_default("AvgTokens", true))
    s.refuse("AvgTokens", "the zoo's ViT heads average all tokens");
  refuse_unsupported(r, fkd, s);
  import_losses(r, c, vkd, fkd);
  import_optimizer(r, c, s);
  c.epochs = static_cast<int>(r.positive_int("NumEpochs", c.epochs));
  c.batch_size = r.positive_int("BatchSize", c.batch_size);
  c.seeds = static_cast<int>(r.positive_int("NumRuns", c.seeds));
  c.augment = r.flag("DataAugmentation", false);
  if (c.augment && (vkd || fkd) && !r.flag("AugmentTeacher", true)) {
    s.refuse("AugmentTeacher",
             "false (teacher targets from un-augmented images) is not supported: "
             "the teacher sees the same augmented batch as the student");
  }
  std::vector<std::string> ignored;
  for (const auto& key : kBookkeepingKeys) {
    if (r.has(key)) ignored.push_back(key);
  }
  if (!ignored.empty()) {
    s.notes.push_back("ignored (bookkeeping or memory settings of the authors' code): " +
                      join(ignored, ", "));
  }
  if (s.problems.empty()) {
    try {
      validate_experiment(c);
    } catch (const Error& e) {
      std::istringstream lines(e.what());
      for (std::string line; std::getline(lines, line);) s.problems.push_back(line);
    }
  }
  if (!s.problems.empty()) {
    std::string message;
    for (const auto& p : s.problems) message += (message.empty() ? "" : "\n") + origin + ": " + p;
    throw Error(message);
  }
  return {c, s.notes};
}

}  // namespace kd
