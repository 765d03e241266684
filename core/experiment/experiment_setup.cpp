#include "experiment/experiment_setup.h"

#include <algorithm>
#include <cmath>

#include "analysis/analysis_cache.h"
#include "analysis/feature_extractor.h"
#include "common/device.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "distill/standard_layers.h"
#include "io/content_hash.h"
#include "models/zoo/zoo_builder.h"
#include "models/zoo/zoo_spec.h"

namespace kd {

namespace {

std::string family(const std::string& architecture) {
  return architecture.substr(0, architecture.find(':'));
}

bool uses_layers(Method m) {
  const MethodTraits t = method_traits(m);
  return t.feature_pairs || t.all_pairs || m == Method::kSimilarityPreserving ||
         m == Method::kSimKD;
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

std::string join(const std::vector<int>& v) {
  std::string t;
  for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + std::to_string(v[i]);
  return t;
}

void check_range(const LayeredModel& model, const std::vector<int>& layers, const char* side,
                 std::vector<std::string>& problems) {
  for (int l : layers) {
    if (l < 0 || l >= model.num_layers()) {
      problems.push_back(std::string(side) + "_layers: layer " + std::to_string(l) +
                         " is out of range: " + model.architecture() + " has layers 0-" +
                         std::to_string(model.num_layers() - 1));
    }
  }
}

LayerChoice explicit_choice(std::vector<int> layers) {
  LayerChoice c;
  c.kind = LayerChoice::Kind::kExplicit;
  c.indices = std::move(layers);
  return c;
}

std::vector<int> choose_layers(const LayeredModel& model, const LayerChoice& choice, int k,
                               const char* side) {
  switch (choice.kind) {
    case LayerChoice::Kind::kExplicit:
      return choice.indices;
    case LayerChoice::Kind::kStandard:
      return standard_layers(model, k);
    case LayerChoice::Kind::kCriterion:
      break;
  }
  throw Error(std::string(side) + "_layers: a score-based choice applies to teacher layers only");
}

// Teacher layers by a score of the layer analysis (method.md section 2), cached on disk.
std::vector<int> layers_by_score(PreparedExperiment& p, const ExperimentConfig& c,
                                 SelectionCriterion criterion, int k,
                                 const PrepareOptions& options, ProgressSink* progress) {
  AnalysisSettings settings;
  settings.per_class_a = c.analysis_per_class;
  settings.seed = c.analysis_seed;
  settings.top_k = k;
  settings.device = p.device;
  AnalysisCache cache;
  const std::string key = AnalysisCache::key(p.teacher, p.data, settings);
  std::optional<AnalysisResult> result;
  if (options.analysis_cache) result = cache.load(key);
  if (!result) {
    if (progress) progress->progress(0, "analysing the teacher's layers");
    result = analyze_layers(*p.teacher.model, p.data, settings, progress);
    cache.store(key, *result);
  }
  p.analysis_seconds = result->from_cache ? 0 : result->seconds;
  std::vector<QualityScores> scores;
  for (const auto& l : result->layers) scores.push_back(l.scores);
  p.analysis = result;
  return select_layers(scores, k, criterion);
}

}  // namespace

double default_lr(const std::string& student_architecture, const std::string& optimizer) {
  const std::string f = family(student_architecture);
  const bool vgg = f.rfind("vgg", 0) == 0;
  if (optimizer == "sgd") return (vgg || f.rfind("vit", 0) == 0) ? 0.01 : 0.05;
  if (vgg) return 0.005;
  if (f == "vit_ett") return 0.001;
  if (f == "vit_b") return 1e-4;
  return 0.0075;  // ResNet, MobileNetV2, and imported models
}

std::string experiment_hash(const ExperimentConfig& resolved) {
  ExperimentConfig c = resolved;
  c.device = "auto";
  c.log_every = 10;
  c.teacher_cache = "auto";
  c.track_geometry = false;
  c.geometry_every = 0;
  c.geometry_per_class = 50;
  return ContentHash().add(experiment_to_json(c, -1)).hex().substr(0, 8);
}

PreparedExperiment prepare_experiment(const ExperimentConfig& config, const PrepareOptions& options,
                                      ProgressSink* progress) {
  validate_experiment(config);
  PreparedExperiment p;
  ExperimentConfig& c = p.resolved;
  c = config;
  if (options.device) c.device = *options.device;
  if (options.seeds) c.seeds = *options.seeds;
  if (c.seeds < 1) throw Error("seeds must be at least 1");
  const torch::Device device = resolve_device(c.device);
  p.device = device.str();
  p.device_description = describe_device(device);

  if (progress) progress->progress(0, "loading " + c.dataset);
  p.data = load_dataset(c.dataset);
  const int64_t classes = p.data.num_classes();
  if (classes < 2) {
    throw Error(c.dataset + ": the dataset has " + std::to_string(classes) +
                " class; classification needs at least 2");
  }
  p.train_indices = c.train_per_class > 0
                        ? balanced_subset(p.data.train.labels, classes, c.train_per_class, c.seed)
                        : all_indices(p.data.train.size());
  p.test_indices = c.test_per_class > 0
                       ? balanced_subset(p.data.test.labels, classes, c.test_per_class, c.seed)
                       : all_indices(p.data.test.size());
  if (p.train_indices.empty()) throw Error(c.dataset + ": the training split is empty");
  if (p.test_indices.empty()) throw Error(c.dataset + ": the test split is empty");
  p.stats = compute_channel_stats(p.data.train);

  if (progress) progress->progress(0, "opening the models");
  LoadedModel student;
  try {
    student = load_model(c.student);
  } catch (const Error& e) {
    throw Error(std::string("student: ") + e.what());
  }
  p.student_origin = student.origin;
  p.student_architecture = student.model->architecture();
  std::vector<std::string> problems;
  const auto fits = [&](const LayeredModel& m, const char* side) {
    try {
      check_model_fits_data(m, p.data.channels(), p.data.height(), p.data.width(), classes);
    } catch (const Error& e) {
      problems.push_back(std::string(side) + ": " + e.what());
    }
  };
  fits(*student.model, "student");
  const MethodTraits traits = method_traits(c.method);
  if (traits.needs_teacher) {
    if (c.teacher.empty()) {
      throw Error("method '" + method_name(c.method) + "' needs a teacher; set \"teacher\"");
    }
    try {
      p.teacher = load_model(c.teacher);
    } catch (const Error& e) {
      throw Error(std::string("teacher: ") + e.what());
    }
    fits(*p.teacher.model, "teacher");
    if (p.teacher.model->num_classes() != student.model->num_classes()) {
      problems.push_back("the teacher has " + std::to_string(p.teacher.model->num_classes()) +
                         " classes and the student " +
                         std::to_string(student.model->num_classes()) + "; they must agree");
    }
    if (p.teacher.origin == ModelOrigin::kZoo) {
      p.notes.push_back("the teacher '" + c.teacher +
                        "' is an untrained zoo model with random weights: distilling from it "
                        "teaches nothing useful; give a trained teacher file");
    }
  } else {
    c.teacher.clear();
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& m : problems) msg += (msg.empty() ? "" : "\n") + m;
    throw Error(msg);
  }

  if (uses_layers(c.method)) {
    const bool by_q_default = c.method == Method::kOurs || c.method == Method::kOursCE ||
                              c.method == Method::kOursKD;
    LayerChoice s_choice = c.student_layers.value_or(LayerChoice{});
    LayerChoice t_choice = c.teacher_layers.value_or(
        by_q_default ? LayerChoice{LayerChoice::Kind::kCriterion, {}, SelectionCriterion::kQuality}
                     : LayerChoice{});
    const std::vector<int> s_layers = choose_layers(*student.model, s_choice, c.num_layers, "student");
    check_range(*student.model, s_layers, "student", problems);
    // A bad student list fails at once, not after a teacher analysis that can take minutes.
    if (!problems.empty() && t_choice.kind == LayerChoice::Kind::kCriterion) {
      std::string msg;
      for (const auto& m : problems) msg += (msg.empty() ? "" : "\n") + m;
      throw Error(msg);
    }
    const int k_teacher = traits.all_pairs && t_choice.kind != LayerChoice::Kind::kExplicit
                              ? c.num_layers
                              : static_cast<int>(s_layers.size());
    std::vector<int> t_layers =
        t_choice.kind == LayerChoice::Kind::kCriterion
            ? layers_by_score(p, c, t_choice.criterion, k_teacher, options, progress)
            : choose_layers(*p.teacher.model, t_choice, k_teacher, "teacher");
    check_range(*p.teacher.model, t_layers, "teacher", problems);
    if (!traits.all_pairs && s_layers.size() != t_layers.size()) {
      problems.push_back("teacher_layers [" + join(t_layers) + "] and student_layers [" +
                         join(s_layers) + "] differ in length; they are paired one-to-one");
    }
    if (!problems.empty()) {
      std::string msg;
      for (const auto& m : problems) msg += (msg.empty() ? "" : "\n") + m;
      throw Error(msg);
    }
    c.student_layers = explicit_choice(s_layers);
    c.teacher_layers = explicit_choice(t_layers);
  } else {
    c.student_layers.reset();
    c.teacher_layers.reset();
  }
  if (!c.lr) c.lr = default_lr(p.student_architecture, c.optimizer);
  if (!c.weight_decay) c.weight_decay = c.optimizer == "sgd" ? 5e-4 : 0.01;
  if (c.schedule == "multistep" && c.milestones.empty()) {
    // The paper's 150/180/210 of 240 epochs, scaled to this run's length. Short runs round two
    // to the same epoch, which the experiment reader refuses: keep them increasing, <= epochs.
    for (int m : {150, 180, 210}) {
      const int64_t scaled = std::lround(m * c.epochs / 240.0);
      const int64_t e = c.milestones.empty() ? scaled : std::max(scaled, c.milestones.back() + 1);
      if (e <= c.epochs) c.milestones.push_back(e);
    }
  }
  return p;
}

std::unique_ptr<LayeredModel> build_student(const PreparedExperiment& prepared, uint64_t seed) {
  const std::string& spec = prepared.resolved.student;
  if (prepared.student_origin == ModelOrigin::kZoo) {
    return zoo::create_zoo_model(zoo::parse_zoo_spec(spec), seed);
  }
  return load_model(spec).model;
}

std::unique_ptr<LayeredModel> copy_teacher(const PreparedExperiment& prepared) {
  if (!prepared.teacher.model) throw Error("this experiment has no teacher to copy");
  std::unique_ptr<LayeredModel> copy = load_model(prepared.resolved.teacher).model;
  // A zoo teacher without a file: copy the live weights so the copy equals the teacher.
  if (prepared.teacher.origin == ModelOrigin::kZoo) {
    torch::NoGradGuard no_grad;
    auto src = prepared.teacher.model->named_state();
    auto dst = copy->named_state();
    for (size_t i = 0; i < src.size() && i < dst.size(); ++i) {
      dst[i].second.copy_(src[i].second.to(dst[i].second.device()));
    }
  }
  return copy;
}

}  // namespace kd
