#include "experiment/experiment_config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/error.h"
#include "data/data_spec.h"
#include "models/zoo/zoo_spec.h"

namespace kd {
namespace {

using json = nlohmann::json;

/// Longest rendering of a bad value quoted in an error message.
constexpr size_t kMaxShownValue = 60;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

/// The value as JSON text, shortened for messages.
std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > kMaxShownValue) text = text.substr(0, kMaxShownValue - 3) + "...";
  return text;
}

/// Case-insensitive Levenshtein distance, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string criterion_text(SelectionCriterion criterion) {
  static const char* const kNames[] = {"Q", "S", "I", "E", "sqrtIE"};  // enum order
  return kNames[static_cast<int>(criterion)];
}

/// An integral JSON number (3 or 3.0, not 3.5) that fits T.
template <typename T>
std::optional<T> integral(const json& v) {
  constexpr auto kMin = std::numeric_limits<T>::min();
  constexpr auto kMax = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    return u <= static_cast<uint64_t>(kMax) ? std::optional<T>(static_cast<T>(u)) : std::nullopt;
  }
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    return i >= 0 || std::is_signed_v<T> ? std::optional<T>(static_cast<T>(i)) : std::nullopt;
  }
  if (!v.is_number_float()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(kMin) ||
      d >= static_cast<double>(kMax)) {
    return std::nullopt;
  }
  return static_cast<T>(d);
}

/// Typed access to one key's value with messages "<origin>: <key>: expected ..., got ...".
class Reader {
 public:
  Reader(std::string origin, std::string key, const json& value)
      : origin_(std::move(origin)), key_(std::move(key)), value_(value) {}

  [[noreturn]] void fail(const std::string& expected) const {
    throw Error(origin_ + ": " + key_ + ": expected " + expected + ", got " + shown(value_));
  }

  int64_t integer(int64_t lo, int64_t hi, const std::string& expected) const {
    const auto v = integral<int64_t>(value_);
    if (!v || *v < lo || *v > hi) fail(expected);
    return *v;
  }
  uint64_t seed() const {
    const auto v = integral<uint64_t>(value_);
    if (!v) fail("a non-negative integer");
    return *v;
  }
  double number() const {
    if (!value_.is_number()) fail("a number");
    return value_.get<double>();
  }
  double number_where(const std::function<bool(double)>& ok, const std::string& expected) const {
    const double v = number();
    if (!ok(v)) fail(expected);
    return v;
  }
  Method method() const {
    try {
      return parse_method(string());
    } catch (const Error&) {
      std::vector<std::string> names;
      for (const Method m : all_methods()) names.push_back(method_name(m));
      fail("a method name (" + join(names, ", ") + ")");
    }
  }
  bool boolean() const {
    if (!value_.is_boolean()) fail("true or false");
    return value_.get<bool>();
  }
  std::string string() const {
    if (!value_.is_string()) fail("a string");
    return value_.get<std::string>();
  }
  /// One of `choices`, matched case-insensitively; returns the canonical spelling.
  std::string choice(const std::vector<std::string>& choices) const {
    if (value_.is_string()) {
      for (const auto& c : choices) {
        if (lower(c) == lower(value_.get<std::string>())) return c;
      }
    }
    fail("one of " + join(choices, ", "));
  }
  LayerChoice layers(bool teacher) const {
    const std::string expected = teacher ? "a list of layer indices, \"standard\" or a criterion "
                                           "(Q, S, I, E, sqrtIE)"
                                         : "a list of layer indices or \"standard\"";
    LayerChoice choice;
    if (value_.is_array()) {
      choice.kind = LayerChoice::Kind::kExplicit;
      for (const auto& item : value_) {
        const auto index = integral<int64_t>(item);
        if (!index || *index < 0 || *index > std::numeric_limits<int>::max()) fail(expected);
        choice.indices.push_back(static_cast<int>(*index));
      }
      return choice;
    }
    if (!value_.is_string()) fail(expected);
    const std::string text = value_.get<std::string>();
    if (lower(text) == "standard") return choice;  // kStandard is the default kind
    if (!teacher) fail(expected);
    try {
      choice.criterion = parse_selection_criterion(text);
    } catch (const Error&) {
      fail(expected);
    }
    choice.kind = LayerChoice::Kind::kCriterion;
    return choice;
  }
  std::vector<int64_t> milestones() const {
    const std::string expected = "a list of increasing positive epoch numbers";
    if (!value_.is_array()) fail(expected);
    std::vector<int64_t> epochs;
    for (const auto& item : value_) {
      const auto e = integral<int64_t>(item);
      if (!e || *e < 1 || (!epochs.empty() && *e <= epochs.back())) fail(expected);
      epochs.push_back(*e);
    }
    return epochs;
  }

 private:
  std::string origin_, key_;
  const json& value_;
};

const std::vector<std::string> kProjectors = {"SingleLayerConv", "ThreeLayerConv"};
const std::vector<std::string> kOptimizers = {"adamw", "sgd"};
const std::vector<std::string> kSchedules = {"onecycle", "multistep", "constant"};
const std::vector<std::string> kTeacherCaches = {"auto", "memory", "disk", "off"};

bool valid_device(const std::string& device) {
  if (device == "auto" || device == "cpu" || device == "cuda") return true;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5 || device.size() > 8) return false;
  return std::all_of(device.begin() + 5, device.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string device_choice(const Reader& r) {
  const std::string device = lower(r.string());
  if (!valid_device(device)) r.fail("auto, cpu, cuda or cuda:N");
  return device;
}

using C = ExperimentConfig;
using ordered = nlohmann::ordered_json;

/// One key of our schema: how it is read and written.
struct Field {
  std::string key;
  std::function<void(C&, const Reader&)> read;
  std::function<ordered(const C&)> write;  ///< null = not written (an unset optional)
};

ordered value_json(double v) { return v; }
ordered value_json(const std::optional<double>& v) { return v ? ordered(*v) : ordered(); }
ordered layers_json(const std::optional<LayerChoice>& choice) {
  if (!choice) return nullptr;
  if (choice->kind == LayerChoice::Kind::kExplicit) return choice->indices;
  if (choice->kind == LayerChoice::Kind::kCriterion) return criterion_text(choice->criterion);
  return "standard";
}

template <typename T>
Field plain(const std::string& key, T C::*field, std::function<T(const Reader&)> read) {
  return {key, [=](C& c, const Reader& r) { c.*field = read(r); },
          [=](const C& c) { return ordered(c.*field); }};
}
Field text(const std::string& key, std::string C::*field) {
  return plain<std::string>(key, field, [](const Reader& r) { return r.string(); });
}
Field flag(const std::string& key, bool C::*field) {
  return plain<bool>(key, field, [](const Reader& r) { return r.boolean(); });
}
Field one_of(const std::string& key, std::string C::*field, const std::vector<std::string>& in) {
  return plain<std::string>(key, field, [&in](const Reader& r) { return r.choice(in); });
}
Field seed(const std::string& key, uint64_t C::*field) {
  return plain<uint64_t>(key, field, [](const Reader& r) { return r.seed(); });
}
template <typename T>
Field integer(const std::string& key, T C::*field, int64_t lo, const std::string& expected,
              int64_t hi = std::numeric_limits<T>::max()) {
  return plain<T>(key, field,
                  [=](const Reader& r) { return static_cast<T>(r.integer(lo, hi, expected)); });
}
template <typename T>  // double or std::optional<double>
Field number(const std::string& key, T C::*field, bool (*ok)(double), const std::string& expected) {
  return {key, [=](C& c, const Reader& r) { c.*field = r.number_where(ok, expected); },
          [=](const C& c) { return value_json(c.*field); }};
}
Field layers(const std::string& key, std::optional<LayerChoice> C::*field, bool teacher) {
  return {key, [=](C& c, const Reader& r) { c.*field = r.layers(teacher); },
          [=](const C& c) { return layers_json(c.*field); }};
}

/// A key written only when it differs from `fallback`: settings added later that do not change
/// the numbers, so that the files (and hashes) of experiments that do not use them stay as they were.
template <typename T>
Field unless(T fallback, Field field, T C::*member) {
  auto write = field.write;
  field.write = [=](const C& c) { return c.*member == fallback ? ordered() : write(c); };
  return field;
}

bool positive(double v) { return v > 0; }
bool non_negative(double v) { return v >= 0; }
bool unit_open(double v) { return v > 0 && v < 1; }
bool unit_right_open(double v) { return v >= 0 && v < 1; }

/// Our keys in the order experiment_to_json writes them.
const std::vector<Field>& fields() {
  const std::string kPositive = "a positive integer", kCount = "a non-negative integer";
  const std::string kPositiveNumber = "a positive number", kWeight = "a number >= 0";
  static const std::vector<Field> table = {
      text("name", &C::name),
      text("dataset", &C::dataset),
      integer("train_per_class", &C::train_per_class, 0, kCount),
      integer("test_per_class", &C::test_per_class, 0, kCount),
      flag("augment", &C::augment),
      text("teacher", &C::teacher),
      text("student", &C::student),
      {"method", [](C& c, const Reader& r) { c.method = r.method(); },
       [](const C& c) { return ordered(method_name(c.method)); }},
      layers("teacher_layers", &C::teacher_layers, true),
      layers("student_layers", &C::student_layers, false),
      integer("num_layers", &C::num_layers, 1, kPositive),
      one_of("projector", &C::projector, kProjectors),
      number("temperature", &C::temperature, positive, kPositiveNumber),
      number("ce_weight", &C::ce_weight, non_negative, kWeight),
      number("kd_weight", &C::kd_weight, non_negative, kWeight),
      number("feature_weight", &C::feature_weight, non_negative, kWeight),
      one_of("optimizer", &C::optimizer, kOptimizers),
      number("lr", &C::lr, positive, kPositiveNumber),
      number("weight_decay", &C::weight_decay, non_negative, kWeight),
      number("momentum", &C::momentum, unit_right_open, "a number in [0, 1)"),
      one_of("schedule", &C::schedule, kSchedules),
      number("pct_start", &C::pct_start, unit_open, "a number between 0 and 1 (exclusive)"),
      plain<std::vector<int64_t>>("milestones", &C::milestones,
                                  [](const Reader& r) { return r.milestones(); }),
      number("gamma", &C::gamma, positive, kPositiveNumber),
      integer("epochs", &C::epochs, 1, kPositive),
      integer("batch_size", &C::batch_size, 1, kPositive),
      integer("seeds", &C::seeds, 1, "an integer from 1 to 100", 100),
      seed("seed", &C::seed),
      plain<std::string>("device", &C::device, device_choice),
      flag("mixed_precision", &C::mixed_precision),
      unless(true, flag("cuda_graphs", &C::cuda_graphs), &C::cuda_graphs),
      one_of("teacher_cache", &C::teacher_cache, kTeacherCaches),
      flag("cache_fp16", &C::cache_fp16),
      integer("analysis_per_class", &C::analysis_per_class, 0, kCount),
      seed("analysis_seed", &C::analysis_seed),
      integer("log_every", &C::log_every, 1, kPositive),
      unless(false, flag("track_geometry", &C::track_geometry), &C::track_geometry),
      unless<int64_t>(0, integer("geometry_every", &C::geometry_every, 0, kCount), &C::geometry_every),
      unless<int64_t>(50, integer("geometry_per_class", &C::geometry_per_class, 1, kPositive),
                      &C::geometry_per_class),
  };
  return table;
}

/// Keys that may be null to mean "unset" (the optional fields).
bool nullable(const std::string& key) {
  return key == "teacher_layers" || key == "student_layers" || key == "lr" || key == "weight_decay";
}

bool known_key(const std::string& key) {
  if (key == "format" || key == "version") return true;
  return std::any_of(fields().begin(), fields().end(),
                     [&](const Field& field) { return field.key == key; });
}

std::string unknown_key_message(const std::string& key) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (const Field& field : fields()) {
    const size_t d = edit_distance(key, field.key);
    if (d < best_distance) best = field.key, best_distance = d;
  }
  return "unknown key '" + key + "' (" +
         (best.empty() ? std::string("see docs/experiments.md for the keys")
                       : "did you mean '" + best + "'?") +
         ")";
}

/// Prefixes every line of `message` with "<origin>: ".
std::string with_origin(const std::string& origin, const std::string& message) {
  std::istringstream lines(message);
  std::string line, out;
  while (std::getline(lines, line)) out += (out.empty() ? "" : "\n") + origin + ": " + line;
  return out;
}

json parse_json(const std::string& text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    std::string message = e.what();
    const size_t bracket = message.find("] ");  // drop "[json.exception.parse_error.101] "
    if (message.rfind("[json.exception", 0) == 0 && bracket != std::string::npos) {
      message = message.substr(bracket + 2);
    }
    throw Error(origin + ": not valid JSON: " + message);
  }
}

void check_header(const json& object, const std::string& origin) {
  if (const auto it = object.find("format"); it != object.end()) {
    if (!it->is_string() || it->get<std::string>() != kExperimentFormat) {
      throw Error(origin + ": format: expected \"" + kExperimentFormat + "\", got " + shown(*it) +
                  " (not a KD Studio experiment file)");
    }
  }
  if (const auto it = object.find("version"); it != object.end()) {
    const int64_t version =
        Reader(origin, "version", *it).integer(1, 1000000, "a positive integer");
    if (version > kExperimentVersion) {
      throw Error(origin + ": written by a newer KD Studio (experiment version " +
                  std::to_string(version) + "; this one reads up to version " +
                  std::to_string(kExperimentVersion) + ")");
    }
  }
}

void check_layer_list(const std::optional<LayerChoice>& choice, const std::string& key,
                      std::vector<std::string>& problems) {
  if (!choice || choice->kind != LayerChoice::Kind::kExplicit) return;
  if (choice->indices.empty()) {
    problems.push_back(key + ": the list is empty; give layer indices or \"standard\"");
  }
  std::set<int> seen;
  for (const int index : choice->indices) {
    if (index < 0) problems.push_back(key + ": layer " + std::to_string(index) + " is negative");
    if (!seen.insert(index).second) {
      problems.push_back(key + ": layer " + std::to_string(index) + " is listed twice");
    }
  }
}

void check_model_spec(const std::string& spec, const std::string& key,
                      std::vector<std::string>& problems) {
  if (!zoo::looks_like_zoo_spec(spec)) return;  // a model file: the resolver opens it
  try {
    zoo::parse_zoo_spec(spec);
  } catch (const Error& e) {
    problems.push_back(key + ": " + e.what());
  }
}

template <typename T>
void check_member(const T& value, const std::vector<T>& allowed, const std::string& key,
                  std::vector<std::string>& problems) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    problems.push_back(key + ": '" + value + "' is not one of " + join(allowed, ", "));
  }
}

void check_numbers(const ExperimentConfig& c, std::vector<std::string>& problems) {
  const auto require = [&](bool ok, const std::string& message) {
    if (!ok) problems.push_back(message);
  };
  require(c.num_layers >= 1, "num_layers must be at least 1");
  require(c.epochs >= 1, "epochs must be at least 1 (got " + std::to_string(c.epochs) + ")");
  require(c.batch_size >= 1, "batch_size must be at least 1");
  require(c.seeds >= 1 && c.seeds <= 100, "seeds must be from 1 to 100");
  require(c.log_every >= 1, "log_every must be at least 1");
  require(c.geometry_every >= 0, "geometry_every must be >= 0");
  require(c.geometry_per_class >= 1, "geometry_per_class must be at least 1");
  require(c.train_per_class >= 0 && c.test_per_class >= 0 && c.analysis_per_class >= 0,
          "train_per_class, test_per_class and analysis_per_class must be >= 0");
  require(c.temperature > 0, "temperature must be positive");
  require(c.ce_weight >= 0 && c.kd_weight >= 0 && c.feature_weight >= 0,
          "ce_weight, kd_weight and feature_weight must be >= 0");
  require(!c.lr || *c.lr > 0, "lr must be positive");
  require(!c.weight_decay || *c.weight_decay >= 0, "weight_decay must be >= 0");
  require(c.momentum >= 0 && c.momentum < 1, "momentum must be in [0, 1)");
  require(c.pct_start > 0 && c.pct_start < 1, "pct_start must be between 0 and 1 (exclusive)");
  require(c.gamma > 0, "gamma must be positive");
}

}  // namespace

void validate_experiment(const ExperimentConfig& config) {
  std::vector<std::string> problems;
  const MethodTraits traits = method_traits(config.method);
  if (config.student.empty()) {
    problems.push_back(
        "student: required: a zoo spec such as resnet9:channels=1,size=28 or a model file");
  }
  check_model_spec(config.student, "student", problems);
  if (traits.needs_teacher) {
    if (config.teacher.empty()) {
      problems.push_back("method '" + method_name(config.method) +
                         "' needs a teacher; set \"teacher\" to a trained model file or zoo spec");
    }
    check_model_spec(config.teacher, "teacher", problems);
  }
  if (config.dataset.empty()) {
    problems.push_back("dataset: required: a data spec such as fashion-mnist or cifar10:DIR");
  } else {
    try {
      parse_data_spec(config.dataset);
    } catch (const Error& e) {
      problems.push_back(std::string("dataset: ") + e.what());
    }
  }
  check_numbers(config, problems);
  check_member(config.projector, kProjectors, "projector", problems);
  check_member(config.optimizer, kOptimizers, "optimizer", problems);
  check_member(config.schedule, kSchedules, "schedule", problems);
  check_member(config.teacher_cache, kTeacherCaches, "teacher_cache", problems);
  if (!valid_device(config.device)) {
    problems.push_back("device: '" + config.device + "' is not auto, cpu, cuda or cuda:N");
  }
  if (traits.needs_teacher) check_layer_list(config.teacher_layers, "teacher_layers", problems);
  check_layer_list(config.student_layers, "student_layers", problems);
  if (config.student_layers && config.student_layers->kind == LayerChoice::Kind::kCriterion) {
    problems.push_back("student_layers: a criterion selects teacher layers only");
  }
  const auto explicit_count = [](const std::optional<LayerChoice>& c) -> std::optional<size_t> {
    if (c && c->kind == LayerChoice::Kind::kExplicit) return c->indices.size();
    return std::nullopt;
  };
  const auto n_teacher = explicit_count(config.teacher_layers);
  const auto n_student = explicit_count(config.student_layers);
  if (traits.feature_pairs && !traits.all_pairs && n_teacher && n_student &&
      *n_teacher != *n_student) {
    problems.push_back("teacher_layers and student_layers list " + std::to_string(*n_teacher) +
                       " and " + std::to_string(*n_student) +
                       " layers; they are paired one-to-one, so give the same number");
  }
  if (config.schedule == "multistep") {
    for (const int64_t m : config.milestones) {
      if (m > config.epochs) {
        problems.push_back("milestones: epoch " + std::to_string(m) + " is beyond epochs (" +
                           std::to_string(config.epochs) + ")");
      }
    }
  }
  if (!problems.empty()) throw Error(join(problems, "\n"));
}

bool is_experiment_key(const std::string& key) { return known_key(key); }

std::string unknown_experiment_key_message(const std::string& key) {
  return unknown_key_message(key);
}

ExperimentConfig experiment_from_json(const std::string& text, const std::string& origin) {
  const json root = parse_json(text, origin);
  if (!root.is_object()) {
    throw Error(origin + ": expected a JSON object of experiment settings, got " + shown(root));
  }
  check_header(root, origin);
  std::vector<std::string> unknown;
  for (const auto& item : root.items()) {
    if (!known_key(item.key())) unknown.push_back(unknown_key_message(item.key()));
  }
  if (!unknown.empty()) throw Error(with_origin(origin, join(unknown, "\n")));

  ExperimentConfig config;
  for (const Field& field : fields()) {
    const auto it = root.find(field.key);
    if (it == root.end() || (it->is_null() && nullable(field.key))) continue;
    field.read(config, Reader(origin, field.key, *it));
  }
  try {
    validate_experiment(config);
  } catch (const Error& e) {
    throw Error(with_origin(origin, e.what()));
  }
  return config;
}

std::string experiment_to_json(const ExperimentConfig& config, int indent) {
  ordered out;
  out["format"] = kExperimentFormat;
  out["version"] = kExperimentVersion;
  for (const Field& field : fields()) {
    ordered value = field.write(config);
    if (!value.is_null()) out[field.key] = std::move(value);
  }
  return out.dump(indent) + "\n";
}

ExperimentConfig load_experiment_file(const std::string& path, std::vector<std::string>* notes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(path + ": cannot read the experiment file (" +
                (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file") + ")");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(path + ": cannot read the experiment file (" + std::strerror(errno) + ")");
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw Error(path + ": cannot read the experiment file");
  if (is_paper_config(text.str())) {
    ImportedExperiment imported = import_paper_config(text.str(), path);
    if (notes) notes->insert(notes->end(), imported.notes.begin(), imported.notes.end());
    return imported.config;
  }
  return experiment_from_json(text.str(), path);
}

}  // namespace kd
