// Experiment files (core/experiment/experiment_config.h, docs/experiments.md): our JSON schema,
// its validation, and the import of the paper's KD_wo_CE configs. The paper-style fixtures in
// tests/fixtures/experiments/paper_*.json follow the key set and layout of the authors' files.
#include <QtTest/QtTest>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "distill/method.h"
#include "experiment/experiment_config.h"
#include "test_util.h"

Q_DECLARE_METATYPE(std::string)

namespace {

using kd::ExperimentConfig;
using kd::LayerChoice;
using kd::Method;
using kdtest::error_of;
using json = nlohmann::json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string experiment_fixture(const std::string& name) {
  return kdtest::fixture("experiments/" + name);
}

/// A paper fixture with some keys replaced (or added), as JSON text.
std::string paper_variant(const std::string& name, const json& overrides) {
  json config = json::parse(read_text(experiment_fixture(name)));
  for (const auto& item : overrides.items()) config[item.key()] = item.value();
  return config.dump(2);
}

/// Our JSON with a student and teacher plus `extra` keys.
std::string ours_with(const json& extra) {
  json config = {{"student", "resnet9:channels=1,size=28"},
                 {"teacher", "resnet34:channels=1,size=28"}};
  for (const auto& item : extra.items()) config[item.key()] = item.value();
  return config.dump();
}

std::vector<int> indices(const std::optional<LayerChoice>& choice) {
  return choice ? choice->indices : std::vector<int>{};
}

bool same_layers(const std::optional<LayerChoice>& a, const std::optional<LayerChoice>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->kind == b->kind && a->indices == b->indices && a->criterion == b->criterion);
}

/// Name of the first field where a and b differ, or "" when equal.
std::string first_difference(const ExperimentConfig& a, const ExperimentConfig& b) {
  // clang-format off
  if (!same_layers(a.teacher_layers, b.teacher_layers)) return "teacher_layers";
  if (!same_layers(a.student_layers, b.student_layers)) return "student_layers";
#define KD_FIELD(f) if (!(a.f == b.f)) return #f
  KD_FIELD(name); KD_FIELD(dataset); KD_FIELD(train_per_class);
  KD_FIELD(test_per_class); KD_FIELD(augment); KD_FIELD(teacher); KD_FIELD(student);
  KD_FIELD(method); KD_FIELD(num_layers); KD_FIELD(projector); KD_FIELD(temperature);
  KD_FIELD(ce_weight); KD_FIELD(kd_weight); KD_FIELD(feature_weight); KD_FIELD(optimizer);
  KD_FIELD(lr); KD_FIELD(weight_decay); KD_FIELD(momentum); KD_FIELD(schedule);
  KD_FIELD(pct_start); KD_FIELD(milestones); KD_FIELD(gamma); KD_FIELD(epochs);
  KD_FIELD(batch_size); KD_FIELD(seeds); KD_FIELD(seed); KD_FIELD(device);
  KD_FIELD(mixed_precision); KD_FIELD(teacher_cache); KD_FIELD(cache_fp16);
  KD_FIELD(analysis_per_class); KD_FIELD(analysis_seed); KD_FIELD(log_every);
#undef KD_FIELD
  // clang-format on
  return "";
}

void check_round_trip(const ExperimentConfig& config) {
  const std::string text = kd::experiment_to_json(config);
  const ExperimentConfig back = kd::experiment_from_json(text, "round-trip");
  QCOMPARE(QString::fromStdString(first_difference(config, back)), QString());
  QCOMPARE(QString::fromStdString(kd::experiment_to_json(back)), QString::fromStdString(text));
}

}  // namespace

class TestExperimentConfig : public QObject {
  Q_OBJECT

 private slots:
  void methodNamesRoundTrip() {
    QCOMPARE(kd::all_methods().size(), size_t{11});
    std::set<std::string> titles;
    for (const Method m : kd::all_methods()) {
      QCOMPARE(kd::parse_method(kd::method_name(m)), m);
      titles.insert(kd::method_title(m));
    }
    QCOMPARE(titles.size(), size_t{11});
    QCOMPARE(kd::method_name(kd::all_methods().front()), std::string("student"));
    QCOMPARE(kd::parse_method("Ours-CE"), Method::kOursCE);
    QCOMPARE(kd::parse_method("KD_STD"), Method::kKDStandardized);
    const std::string error = error_of([] { kd::parse_method("hinton"); });
    QVERIFY2(contains(error, "unknown method 'hinton' (known: student, kd, kd_std, fitnets,"),
             error.c_str());
  }

  void methodTraits_data() {
    QTest::addColumn<std::string>("name");
    QTest::addColumn<QString>("traits");  // teacher kd std pairs all detached ce_on_backbone
    for (const auto& [name, bits] :
         std::vector<std::pair<const char*, const char*>>{{"student", "0000001"},
                                                          {"kd", "1100001"},
                                                          {"kd_std", "1110001"},
                                                          {"fitnets", "1101001"},
                                                          {"fitnets_all", "1100101"},
                                                          {"sp", "1100001"},
                                                          {"simkd", "1100001"},
                                                          {"semckd", "1100101"},
                                                          {"ours", "1001010"},
                                                          {"ours_ce", "1001001"},
                                                          {"ours_kd", "1101001"}}) {
      QTest::newRow(name) << std::string(name) << QString(bits);
    }
  }
  void methodTraits() {
    QFETCH(std::string, name);
    QFETCH(QString, traits);
    const kd::MethodTraits t = kd::method_traits(kd::parse_method(name));
    const bool bits[] = {t.needs_teacher, t.uses_kd,       t.standardize_logits, t.feature_pairs,
                         t.all_pairs,     t.detached_head, t.ce_on_backbone};
    QString actual;
    for (const bool b : bits) actual += b ? '1' : '0';
    QCOMPARE(actual, traits);
  }

  void minimalFileGetsDefaults() {
    const auto c = kd::load_experiment_file(experiment_fixture("experiment_minimal.json"));
    QCOMPARE(c.method, Method::kOurs);
    QCOMPARE(c.dataset, std::string("fashion-mnist"));
    QCOMPARE(c.epochs, 50);
    QCOMPARE(c.batch_size, int64_t{128});
    QVERIFY(!c.lr && !c.weight_decay && !c.teacher_layers && !c.student_layers);
    QCOMPARE(c.student, std::string("resnet9:channels=1,size=28"));
  }

  void fullFileReadsEveryKey() {
    const auto c = kd::load_experiment_file(experiment_fixture("experiment_full.json"));
    QCOMPARE(c.name, std::string("r34-to-r9-ours"));
    QCOMPARE(c.dataset, std::string("cifar100:~/datasets/cifar-100-binary?labels=coarse"));
    QCOMPARE(c.train_per_class, int64_t{500});
    QCOMPARE(c.test_per_class, int64_t{100});
    QVERIFY(c.augment && c.mixed_precision && c.cache_fp16);
    QCOMPARE(c.teacher, std::string("teachers/resnet34_cifar100.kdmodel"));
    QCOMPARE(c.method, Method::kOursKD);
    QCOMPARE(indices(c.teacher_layers), (std::vector<int>{12, 13, 14, 15}));
    QVERIFY(c.student_layers && c.student_layers->kind == LayerChoice::Kind::kStandard);
    QCOMPARE(c.projector, std::string("ThreeLayerConv"));
    QCOMPARE(c.temperature, 2.5);
    QCOMPARE(c.ce_weight, 0.5);
    QCOMPARE(c.kd_weight, 2.0);
    QCOMPARE(c.feature_weight, 10.0);
    QCOMPARE(c.optimizer, std::string("sgd"));
    QCOMPARE(*c.lr, 0.05);
    QCOMPARE(*c.weight_decay, 0.0005);
    QCOMPARE(c.momentum, 0.85);
    QCOMPARE(c.schedule, std::string("multistep"));
    QCOMPARE(c.pct_start, 0.25);
    QCOMPARE(c.milestones, (std::vector<int64_t>{150, 180, 210}));
    QCOMPARE(c.gamma, 0.2);
    QCOMPARE(c.epochs, 240);
    QCOMPARE(c.batch_size, int64_t{64});
    QCOMPARE(c.seeds, 5);
    QCOMPARE(c.seed, uint64_t{18446744073709551615ULL});
    QCOMPARE(c.device, std::string("cuda:1"));
    QCOMPARE(c.teacher_cache, std::string("disk"));
    QCOMPARE(c.analysis_per_class, int64_t{250});
    QCOMPARE(c.analysis_seed, uint64_t{7});
    QCOMPARE(c.log_every, 25);
  }

  void roundTrips() {
    check_round_trip(kd::load_experiment_file(experiment_fixture("experiment_full.json")));
    ExperimentConfig c;
    c.student = "vit_ett";
    c.teacher = "vit_b";
    check_round_trip(c);  // defaults, optional fields unset
    c.teacher_layers =
        LayerChoice{LayerChoice::Kind::kCriterion, {}, kd::SelectionCriterion::kSqrtIE};
    c.student_layers = LayerChoice{LayerChoice::Kind::kExplicit, {1, 3, 5, 7}, {}};
    c.lr = 1.0 / 3.0;  // needs all 17 digits
    c.weight_decay = 0.0;
    c.temperature = 0.1;
    check_round_trip(c);
    for (const Method m : kd::all_methods()) {
      c.method = m;
      check_round_trip(c);
    }
  }

  void writerOrderAndOptionalFields() {
    ExperimentConfig c;
    c.student = "resnet9";
    c.teacher = "resnet34";
    const json written = json::parse(kd::experiment_to_json(c));
    QVERIFY(!written.contains("lr") && !written.contains("teacher_layers"));
    const std::string text = kd::experiment_to_json(c);
    QVERIFY(text.find("\"format\": \"kdstudio-experiment\"") < text.find("\"version\": 1"));
    QVERIFY(text.find("\"version\"") < text.find("\"name\""));
    QVERIFY(text.find("\"student\"") < text.find("\"epochs\""));
    QCOMPARE(written.size(), size_t{33});  // 35 fields less the 4 unset optionals, plus 2
  }

  void lenientValues() {
    const auto c = kd::experiment_from_json(ours_with({{"epochs", 3.0},
                                                       {"optimizer", "AdamW"},
                                                       {"projector", "threelayerconv"},
                                                       {"teacher_layers", "sqrtie"},
                                                       {"student_layers", "STANDARD"},
                                                       {"lr", nullptr},
                                                       {"device", "CUDA:0"},
                                                       {"method", "Ours-KD"}}),
                                            "x.json");
    QCOMPARE(c.epochs, 3);
    QCOMPARE(c.optimizer, std::string("adamw"));
    QCOMPARE(c.projector, std::string("ThreeLayerConv"));
    QCOMPARE(c.teacher_layers->criterion, kd::SelectionCriterion::kSqrtIE);
    QVERIFY(c.student_layers->kind == LayerChoice::Kind::kStandard && !c.lr);
    QCOMPARE(c.device, std::string("cuda:0"));
    QCOMPARE(c.method, Method::kOursKD);
  }

  void readErrors_data() {
    QTest::addColumn<std::string>("extra");
    QTest::addColumn<std::string>("expected");
    const auto row = [](const char* tag, const json& extra, const std::string& expected) {
      QTest::newRow(tag) << extra.dump() << expected;
    };
    row("negative epochs", {{"epochs", -3}}, "x.json: epochs: expected a positive integer, got -3");
    row("fractional epochs", {{"epochs", 3.5}},
        "x.json: epochs: expected a positive integer, got 3.5");
    row("lr text", {{"lr", "fast"}}, "x.json: lr: expected a number, got \"fast\"");
    row("lr zero", {{"lr", 0}}, "x.json: lr: expected a positive number, got 0");
    row("temperature", {{"temperature", -1}}, "temperature: expected a positive number, got -1");
    row("weight", {{"kd_weight", -0.5}}, "kd_weight: expected a number >= 0, got -0.5");
    row("pct_start", {{"pct_start", 1}}, "pct_start: expected a number between 0 and 1");
    row("batch", {{"batch_size", 0}}, "batch_size: expected a positive integer, got 0");
    row("seeds", {{"seeds", 101}}, "seeds: expected an integer from 1 to 100, got 101");
    row("log_every", {{"log_every", 0}}, "log_every: expected a positive integer, got 0");
    row("num_layers", {{"num_layers", 0}}, "num_layers: expected a positive integer, got 0");
    row("seed", {{"seed", -1}}, "seed: expected a non-negative integer, got -1");
    row("bool", {{"augment", 1}}, "augment: expected true or false, got 1");
    row("projector", {{"projector", "MLP"}},
        "projector: expected one of SingleLayerConv, ThreeLayerConv, got \"MLP\"");
    row("optimizer", {{"optimizer", "adam"}},
        "optimizer: expected one of adamw, sgd, got \"adam\"");
    row("schedule", {{"schedule", "cosine"}},
        "schedule: expected one of onecycle, multistep, constant");
    row("cache", {{"teacher_cache", "gpu"}},
        "teacher_cache: expected one of auto, memory, disk, off");
    row("device", {{"device", "tpu"}}, "device: expected auto, cpu, cuda or cuda:N, got \"tpu\"");
    row("method", {{"method", "hinton"}}, "method: expected a method name (student, kd, kd_std");
    row("typo", {{"epoch", 10}}, "x.json: unknown key 'epoch' (did you mean 'epochs'?)");
    row("no hint", {{"colour", "red"}}, "unknown key 'colour' (see docs/experiments.md");
    row("layers", {{"teacher_layers", {1, -2}}},
        "teacher_layers: expected a list of layer indices");
    row("student crit", {{"student_layers", "Q"}},
        "student_layers: expected a list of layer indices or \"standard\", got \"Q\"");
    row("milestones", {{"milestones", {180, 150}}},
        "milestones: expected a list of increasing positive epoch numbers");
    row("format", {{"format", "other"}}, "x.json: format: expected \"kdstudio-experiment\"");
    row("version", {{"version", 2}}, "x.json: written by a newer KD Studio");
    row("dataset", {{"dataset", "cifar-10"}}, "x.json: dataset: unknown dataset kind 'cifar-10'");
    row("zoo option", {{"student", "resnet9:colors=3"}}, "x.json: student: unknown model option");
    row("no teacher", {{"teacher", ""}, {"method", "kd"}},
        "x.json: method 'kd' needs a teacher; set \"teacher\" to a trained model file or zoo spec");
  }
  void readErrors() {
    QFETCH(std::string, extra);
    QFETCH(std::string, expected);
    const std::string error =
        error_of([&] { kd::experiment_from_json(ours_with(json::parse(extra)), "x.json"); });
    QVERIFY2(contains(error, expected), error.c_str());
  }

  void documentErrors() {
    std::string error = error_of([] { kd::experiment_from_json("{\"epochs\": 5,, }", "x.json"); });
    QVERIFY2(contains(error, "x.json: not valid JSON: parse error at line 1, column 14"),
             error.c_str());
    error = error_of([] { kd::experiment_from_json("[1, 2]", "x.json"); });
    QVERIFY2(contains(error, "x.json: expected a JSON object"), error.c_str());
    error = error_of([] { kd::experiment_from_json("{\"teacher\": \"resnet34\"}", "x.json"); });
    QCOMPARE(error, std::string("x.json: student: required: a zoo spec such as "
                                "resnet9:channels=1,size=28 or a model file"));
    error = error_of([] { kd::load_experiment_file("/nonexistent/exp.json"); });
    QCOMPARE(error,
             std::string("/nonexistent/exp.json: cannot read the experiment file (no such file)"));
  }

  void validateReportsEveryProblem() {
    ExperimentConfig c;
    c.student = "resnet9";
    c.method = Method::kFitNets;
    c.epochs = 240;
    c.num_layers = 0;
    c.schedule = "multistep";
    c.milestones = {150, 300};
    c.teacher_layers = LayerChoice{LayerChoice::Kind::kExplicit, {3, 7, 13}, {}};
    c.student_layers = LayerChoice{LayerChoice::Kind::kExplicit, {1, 2, 2, 4}, {}};
    const std::string error = error_of([&] { kd::validate_experiment(c); });
    const std::vector<std::string> lines = {
        "method 'fitnets' needs a teacher; set \"teacher\" to a trained model file or zoo spec",
        "num_layers must be at least 1", "student_layers: layer 2 is listed twice",
        "teacher_layers and student_layers list 3 and 4 layers; they are paired one-to-one, so "
        "give the same number",
        "milestones: epoch 300 is beyond epochs (240)"};
    std::string expected;
    for (const auto& line : lines) expected += (expected.empty() ? "" : "\n") + line;
    QCOMPARE(error, expected);
    // Through experiment_from_json every line names the file.
    const std::string from_file = error_of([] {
      kd::experiment_from_json(ours_with({{"method", "fitnets"},
                                          {"teacher", ""},
                                          {"epochs", 10},
                                          {"schedule", "multistep"},
                                          {"milestones", {20}}}),
                               "y.json");
    });
    QVERIFY2(contains(from_file, "y.json: method 'fitnets' needs a teacher") &&
                 contains(from_file, "\ny.json: milestones: epoch 20 is beyond epochs (10)"),
             from_file.c_str());
  }

  void validateLayerRules() {
    ExperimentConfig c;
    c.student = "resnet9";
    c.teacher = "resnet34";
    c.teacher_layers = LayerChoice{LayerChoice::Kind::kExplicit, {3, 7, 13}, {}};
    c.student_layers = LayerChoice{LayerChoice::Kind::kExplicit, {1, 2, 3, 4}, {}};
    for (const Method m : {Method::kFitNetsAllPairs, Method::kSemCKD, Method::kKD}) {
      c.method = m;  // not one-to-one: counts may differ
      QCOMPARE(error_of([&] { kd::validate_experiment(c); }), std::string("<no error>"));
    }
    c.method = Method::kOurs;
    QVERIFY(contains(error_of([&] { kd::validate_experiment(c); }), "paired one-to-one"));
    c.method = Method::kStudent;  // a teacher and its layers are ignored
    c.teacher_layers = LayerChoice{LayerChoice::Kind::kExplicit, {}, {}};
    QCOMPARE(error_of([&] { kd::validate_experiment(c); }), std::string("<no error>"));
    c.method = Method::kOurs;
    QVERIFY(contains(error_of([&] { kd::validate_experiment(c); }),
                     "teacher_layers: the list is empty"));
  }

  void detectsPaperConfigs() {
    for (const char* name : {"paper_ours_cifar100.json", "paper_fitnets_vgg_240e.json",
                             "paper_simkd_tiny.json", "paper_kd_std_vit.json"}) {
      QVERIFY2(kd::is_paper_config(read_text(experiment_fixture(name))), name);
    }
    QVERIFY(!kd::is_paper_config(read_text(experiment_fixture("experiment_full.json"))));
    QVERIFY(!kd::is_paper_config(read_text(experiment_fixture("experiment_minimal.json"))));
    QVERIFY(!kd::is_paper_config("not json"));
  }

  void importOurs() {
    std::vector<std::string> notes;
    const auto c = kd::load_experiment_file(experiment_fixture("paper_ours_cifar100.json"), &notes);
    QCOMPARE(c.name, std::string("paper_ours_cifar100"));
    QCOMPARE(c.method, Method::kOurs);
    QCOMPARE(c.dataset, std::string("cifar100:~/datasets/cifar-100-binary"));
    QCOMPARE(c.student, std::string("resnet9:channels=3,size=32,classes=100"));
    QCOMPARE(c.teacher, std::string("resnet34:channels=3,size=32,classes=100"));
    QCOMPARE(indices(c.teacher_layers), (std::vector<int>{12, 13, 14, 15}));
    QCOMPARE(indices(c.student_layers), (std::vector<int>{1, 2, 3, 4}));
    QCOMPARE(c.optimizer, std::string("adamw"));
    QCOMPARE(*c.lr, 0.0075);   // MaxLR under OneCycle; LearningRate 0.05 is not used
    QVERIFY(!c.weight_decay);  // -1: AdamW's default 0.01
    QCOMPARE(c.schedule, std::string("onecycle"));
    QCOMPARE(c.pct_start, 0.3);
    QCOMPARE(c.epochs, 50);
    QCOMPARE(c.seeds, 3);
    QCOMPARE(c.ce_weight, 1.0);
    QCOMPARE(c.feature_weight, 1.0);
    QVERIFY(!c.augment);
    const std::string all = [&] {
      std::string s;
      for (const auto& n : notes) s += n + "\n";
      return s;
    }();
    QVERIFY2(contains(all,
                      "Teacher ResNet34 names an architecture, not weights: replace "
                      "\"teacher\" (resnet34:channels=3,size=32,classes=100)"),
             all.c_str());
    QVERIFY2(contains(all, "teacher_layers [12, 13, 14, 15] were chosen on the authors' teacher"),
             all.c_str());
    QVERIFY2(contains(all, "point \"dataset\" at your copy of CIFAR-100"), all.c_str());
    QVERIFY2(contains(all,
                      "ignored (bookkeeping or memory settings of the authors' code): "
                      "CheckpointInterval, EvalInterval, SaveModel, SaveResult, StoreFeatures"),
             all.c_str());
    check_round_trip(c);
  }

  void importLongScheduleFitNets() {
    const auto c = kd::load_experiment_file(experiment_fixture("paper_fitnets_vgg_240e.json"));
    QCOMPARE(c.method, Method::kFitNets);  // standard layers of VGG19 and VGG11
    QCOMPARE(c.student, std::string("vgg11_bn:channels=3,size=32,classes=10"));
    QCOMPARE(c.teacher, std::string("vgg19_bn:channels=3,size=32,classes=10"));
    QCOMPARE(c.optimizer, std::string("sgd"));
    QCOMPARE(*c.lr, 0.01);
    QCOMPARE(*c.weight_decay, 0.0005);
    QCOMPARE(c.schedule, std::string("multistep"));
    QCOMPARE(c.milestones, (std::vector<int64_t>{150, 180, 210}));
    QCOMPARE(c.gamma, 0.1);
    QCOMPARE(c.epochs, 240);
    QCOMPARE(c.seeds, 1);
    QCOMPARE(c.temperature, 4.0);
    QCOMPARE(c.kd_weight, 1.0);  // LGLossWeight 16 = T^2 * 1
  }

  void importTinyImageNetSimKD() {
    const auto c = kd::load_experiment_file(experiment_fixture("paper_simkd_tiny.json"));
    QCOMPARE(c.method, Method::kSimKD);
    QCOMPARE(c.dataset, std::string("folder:~/datasets/tiny-imagenet-200?size=64"));
    QCOMPARE(c.student, std::string("mobilenetv2:channels=3,size=64,classes=200,downsample=on"));
    QCOMPARE(c.teacher, std::string("resnet34:channels=3,size=64,classes=200,downsample=on"));
    QCOMPARE(c.projector, std::string("ThreeLayerConv"));
    QVERIFY(c.augment);
  }

  void importStandardizedKD() {
    const auto imported = kd::import_paper_config(
        read_text(experiment_fixture("paper_kd_std_vit.json")), "paper_kd_std_vit.json");
    const auto& c = imported.config;
    QCOMPARE(c.method, Method::kKDStandardized);
    QCOMPARE(c.student, std::string("vit_ett:channels=3,size=32,classes=10"));
    QCOMPARE(c.temperature, 2.0);
    QCOMPARE(c.kd_weight, 1.0);  // LGLossWeight 4 = T^2 * 1
    QCOMPARE(*c.lr, 0.001);
    QVERIFY(!c.teacher_layers && !c.student_layers);  // FeatureKD false: layers unused
  }

  void paperMethodMatrix_data() {
    QTest::addColumn<std::string>("overrides");
    QTest::addColumn<std::string>("expected");  // a method name, or "error: <part of message>"
    const auto row = [](const char* tag, const json& o, const std::string& expected) {
      QTest::newRow(tag) << o.dump() << expected;
    };
    const json attached = {{"SeperateLinear", false}};
    const auto with = [&](const json& more) {
      json o = attached;
      o.update(more);
      return o;
    };
    row("ours", json::object(), "ours");
    row("ours+ce", attached, "ours_ce");
    row("ours+ce+kd", with({{"VanillaKD", true}}), "ours_kd");
    row("fitnets", with({{"VanillaKD", true}, {"TeacherLayers", {3, 7, 13, 16}}}), "fitnets");
    row("fitnets_all", with({{"VanillaKD", true}, {"LayerMappingMethod", "FullyConnected"}}),
        "fitnets_all");
    row("semckd", with({{"VanillaKD", true}, {"LayerMappingMethod", "LearnedAttn"}}), "semckd");
    row("sp", with({{"VanillaKD", true}, {"ProjectionMethod", "RelationFunction"}}), "sp");
    row("student", with({{"FeatureKD", false}}), "student");
    row("kd", with({{"FeatureKD", false}, {"VanillaKD", true}}), "kd");
    row("kd on detached head", {{"VanillaKD", true}},
        "error: the combination SeperateLinear=true, VanillaKD=true (KD on the detached head "
        "only)");
    row("all pairs without kd", with({{"LayerMappingMethod", "FullyConnected"}}),
        "error: LayerMappingMethod=FullyConnected, VanillaKD=false, SeperateLinear=false");
    row("pca", {{"ProjectionMethod", "PCA"}}, "error: the combination ProjectionMethod=PCA");
    row("frozen teacher head", with({{"VanillaKD", true}, {"UseTeacherClassifier", true}}),
        "error: UseTeacherClassifier=true, LearnTeacherClassifier=false");
    row("std kd + features", with({{"VanillaKD", true}, {"NormalizeLogits", true}}),
        "error: the combination FeatureKD=true, NormalizeLogits=true");
    row("bad mapping", {{"LayerMappingMethod", "Random"}},
        "error: LayerMappingMethod: expected one of One2One, FullyConnected, LearnedAttn, "
        "PreDefined, got \"Random\"");
  }
  void paperMethodMatrix() {
    QFETCH(std::string, overrides);
    QFETCH(std::string, expected);
    const std::string text = paper_variant("paper_ours_cifar100.json", json::parse(overrides));
    if (expected.rfind("error: ", 0) == 0) {
      const std::string error = error_of([&] { kd::import_paper_config(text, "p.json"); });
      QVERIFY2(contains(error, expected.substr(7)) && contains(error, "p.json: "), error.c_str());
    } else {
      QCOMPARE(kd::method_name(kd::import_paper_config(text, "p.json").config.method), expected);
    }
  }

  void paperRefusals_data() {
    QTest::addColumn<std::string>("fixture");
    QTest::addColumn<std::string>("overrides");
    QTest::addColumn<std::string>("expected");
    const auto row = [](const char* tag, const char* fixture, const json& o, const std::string& e) {
      QTest::newRow(tag) << std::string(fixture) << o.dump() << e;
    };
    const char* ours = "paper_ours_cifar100.json";
    row("every key named", ours,
        {{"UseHuberLoss", true},
         {"BatchNorm", false},
         {"LRScheduler", "Exp"},
         {"Model", "ResNet56"}},
        "p.json: Model: 'ResNet56' has no counterpart in KD Studio's zoo (importable: ResNet9, "
        "ResNet18, ResNet34, MobileNetV2, VGG11, VGG19, ViT_B, ViT_ETT)\n"
        "p.json: BatchNorm: false is not supported: the zoo's models always use batch norm\n"
        "p.json: UseHuberLoss: true is not supported: feature losses are mean squared errors only\n"
        "p.json: LRScheduler: 'Exp' is not supported (OneCycle, MultiStep or None)");
    row("pretrained", "paper_teacher_pretrained.json", json::object(),
        "p.json: PreTrained: true is not supported: ImageNet weights cannot be downloaded");
    row("unknown keys", ours, {{"Foo", 1}, {"Bar", 2}},
        "p.json: keys the paper's configs do not have: Bar, Foo");
    row("type", ours, {{"NumEpochs", "fifty"}},
        "p.json: NumEpochs: expected a positive integer, got \"fifty\"");
    row("augment teacher", "paper_simkd_tiny.json", {{"AugmentTeacher", false}},
        "p.json: AugmentTeacher: false (teacher targets from un-augmented images)");
    row("dataset", ours, {{"Dataset", "EuroSAT"}}, "p.json: Dataset: 'EuroSAT' is not importable");
    row("negative layer", ours, {{"TeacherLayers", {12, 13, 14, -1}}},
        "p.json: TeacherLayers: index -1 counts from the end in the paper's code");
  }
  void paperRefusals() {
    QFETCH(std::string, fixture);
    QFETCH(std::string, overrides);
    QFETCH(std::string, expected);
    const std::string text = paper_variant(fixture, json::parse(overrides));
    const std::string error = error_of([&] { kd::import_paper_config(text, "p.json"); });
    QVERIFY2(contains(error, expected), error.c_str());
  }

  /// Opt-in: KD_PAPER_CONFIGS=<clone of KD_wo_CE>/ExperimentConfigs imports every file of the
  /// authors and checks the method against the file's name.
  void importsEveryAuthorConfig() {
    const QByteArray dir = qgetenv("KD_PAPER_CONFIGS");
    if (dir.isEmpty()) QSKIP("set KD_PAPER_CONFIGS to the authors' ExperimentConfigs folder");
    // clang-format off
    const std::vector<std::pair<std::string, std::string>> by_name = {
        {"VKDNormalized", "kd_std"}, {"VKD", "kd"}, {"Baseline1LCFC+VKD", "fitnets_all"},
        {"Baseline1LC+VKD", "fitnets"}, {"Baseline1LC", "ours_ce"}, {"BaselineSP+VKD", "sp"},
        {"SemCKD", "semckd"}, {"SimKD", "simkd"}, {"OursMulti+CE+VKD", "ours_kd"},
        {"OursMulti+CE", "ours_ce"}, {"Ours", "ours"}, {"STL+SepLin", "ours"},
        {"Baseline", "student"}};  // "<Model>_Baseline" files
    // clang-format on
    int files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.toStdString())) {
      if (entry.path().extension() != ".json") continue;
      const std::string path = entry.path().string(), stem = entry.path().stem().string();
      const auto rule = std::find_if(by_name.begin(), by_name.end(), [&](const auto& r) {
        return stem.rfind(r.first, 0) == 0 || stem.find("_" + r.first) != std::string::npos;
      });
      QVERIFY2(rule != by_name.end(), path.c_str());
      const bool pretrained = json::parse(read_text(path)).value("PreTrained", false);
      const std::string got = error_of([&] {
        throw kd::Error("method " + kd::method_name(kd::load_experiment_file(path).method));
      });
      const std::string want =
          pretrained ? "PreTrained: true is not supported" : "method " + rule->second;
      QVERIFY2(contains(got, want), (path + ": " + got).c_str());
      ++files;
    }
    QCOMPARE(files, 426);
  }

  void paperLossWeightsAndOptimizers() {
    auto c = kd::import_paper_config(
                 paper_variant("paper_fitnets_vgg_240e.json", {{"LGLossWeight", 8},
                                                               {"UseCELoss", false},
                                                               {"LSLossWeight", 2.5},
                                                               {"Optimizer", "Adam"},
                                                               {"WeightDecay", 0.1}}),
                 "p.json")
                 .config;
    QCOMPARE(c.kd_weight, 0.5);  // 8 / 4^2
    QCOMPARE(c.ce_weight, 0.0);
    QCOMPARE(c.feature_weight, 2.5);
    QCOMPARE(c.optimizer, std::string("adamw"));
    QCOMPARE(*c.weight_decay, 0.0);  // their Adam has no weight decay
    c = kd::import_paper_config(paper_variant("paper_fitnets_vgg_240e.json",
                                              {{"WeightDecay", -1}, {"LRSteps", json::array()}}),
                                "p.json")
            .config;
    QCOMPARE(*c.weight_decay, 1e-4);  // their SGD default
    QCOMPARE(c.schedule, std::string("constant"));
  }
};

QTEST_APPLESS_MAIN(TestExperimentConfig)
#include "test_experiment_config.moc"
