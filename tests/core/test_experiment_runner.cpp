// Experiments end to end (core/experiment/experiment_setup.h, experiment_runner.h): how
// prepare_experiment resolves layers and optimizer settings and what it refuses; every method
// trained for an epoch through ExperimentRunner with the loss components it should report; the
// teacher target cache changing no number; result.json and its statistics; existing run
// folders; exporting the student; and the optimizer state that checkpoints carry.
// A 500 + 200 image class-balanced copy of Fashion-MNIST (written as IDX files at start) and
// width-0.125 models keep the whole file to seconds: loading the full set for every experiment
// and the layer analysis's sample B (500 per class of the full set) would dominate.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/knowledge_quality.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "distill/checkpoint.h"
#include "distill/method.h"
#include "distill/standard_layers.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "experiment/experiment_setup.h"
#include "deploy/student_export.h"
#include "io/safetensors.h"
#include "models/model_loader.h"
#include "idx_subset.h"
#include "test_util.h"

Q_DECLARE_METATYPE(std::string)

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using kd::ExperimentConfig;
using kd::LayerChoice;
using kd::Method;
using kdtest::error_of;

/// The student of every case: 6 generalized layers (stem, 4 blocks, flatten).
constexpr const char* kStudent = "resnet9:channels=1,size=28,width=0.125";
/// An untrained zoo teacher: 10 generalized layers (stem, 8 blocks, flatten).
constexpr const char* kTeacher = "resnet18:channels=1,size=28,width=0.125";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<int> layers_of(const std::optional<LayerChoice>& c) {
  return c ? c->indices : std::vector<int>{};
}

/// The data spec of the small Fashion-MNIST copy (set by initTestCase).
std::string g_data_spec;

/// A one-epoch experiment on 100 training and 100 test images.
ExperimentConfig tiny(Method method) {
  ExperimentConfig c;
  c.dataset = g_data_spec;
  c.train_per_class = 10;
  c.test_per_class = 10;
  c.student = kStudent;
  c.teacher = method == Method::kStudent ? "" : kTeacher;
  c.method = method;
  c.epochs = 1;
  c.batch_size = 20;
  c.seeds = 1;
  c.seed = 0;
  c.device = "cpu";
  c.analysis_per_class = 5;
  c.log_every = 2;
  return c;
}

/// Records what a run reports.
class Recorder final : public kd::TrainObserver {
 public:
  void on_epoch(const kd::EpochReport& r) override { epochs.push_back(r); }
  void on_note(const std::string& text) override { notes.push_back(text); }
  std::vector<kd::EpochReport> epochs;
  std::vector<std::string> notes;
};

std::map<std::string, torch::Tensor> as_map(const kd::NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

/// A 3 -> 2 linear layer (or `in` -> 2) with fixed weights.
torch::nn::Linear small_linear(int64_t in = 3) {
  torch::manual_seed(11);
  return torch::nn::Linear(in, 2);
}

/// One optimizer step on a fixed least-squares problem.
void step(torch::optim::Optimizer& optimizer, torch::nn::Linear& m, int i) {
  torch::manual_seed(100 + i);
  const torch::Tensor x = torch::randn({5, m->options.in_features()});
  const torch::Tensor y = torch::randn({5, 2});
  optimizer.zero_grad();
  (m->forward(x) - y).pow(2).sum().backward();
  optimizer.step();
}

/// A copy of `m` with the same parameter values (what a checkpoint restores).
torch::nn::Linear copy_of(torch::nn::Linear& m) {
  torch::nn::Linear c(m->options.in_features(), 2);
  torch::NoGradGuard no_grad;
  c->weight.copy_(m->weight);
  c->bias.copy_(m->bias);
  return c;
}

bool same_params(torch::nn::Linear& a, torch::nn::Linear& b) {
  return torch::equal(a->weight, b->weight) && torch::equal(a->bias, b->bias);
}

}  // namespace

class TestExperimentRunner : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir cache_dir_;
  QTemporaryDir data_dir_;

  /// Creates and runs `c` under `root`; returns the run folder.
  std::string run(const ExperimentConfig& c, const std::string& root, Recorder* recorder = nullptr,
                  kd::ExperimentResult* result = nullptr) {
    auto runner = kd::ExperimentRunner::create(c, "", root);
    kd::ExperimentResult r = runner->run(recorder);
    if (result) *result = r;
    return runner->run_dir();
  }

 private slots:
  void initTestCase() {
    QVERIFY(cache_dir_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", cache_dir_.path().toUtf8());
    torch::set_num_threads(2);
    QVERIFY(data_dir_.isValid());
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string dir = data_dir_.path().toStdString();
    kdtest::write_idx_subset(full.train, 50, dir, "train");
    kdtest::write_idx_subset(full.test, 20, dir, "t10k");
    g_data_spec = "fashion-mnist:" + dir;
  }

  // ---- prepare_experiment: resolution ----

  void oursTeacherLayersComeFromQ() {
    ExperimentConfig c = tiny(Method::kOurs);
    const kd::PreparedExperiment p = kd::prepare_experiment(c);
    QVERIFY(p.analysis.has_value());
    QCOMPARE(p.analysis->sample_a, int64_t{50});  // analysis_per_class 5 x 10 classes
    QCOMPARE(p.analysis->n_train, int64_t{500});
    QCOMPARE(int(p.analysis->layers.size()), 10);
    const std::vector<int> student = layers_of(p.resolved.student_layers);
    QCOMPARE(student, (std::vector<int>{1, 2, 3, 4}));  // ResNet9's standard layers
    std::vector<kd::QualityScores> scores;
    for (const auto& l : p.analysis->layers) scores.push_back(l.scores);
    const std::vector<int> by_q = kd::select_layers(scores, int(student.size()));
    QCOMPARE(layers_of(p.resolved.teacher_layers), by_q);
    QCOMPARE(p.analysis->recommended, by_q);
    QVERIFY(p.resolved.teacher_layers->kind == LayerChoice::Kind::kExplicit);
    // Stored under $KDSTUDIO_CACHE_DIR: the second time comes from the cache.
    QVERIFY(!fs::is_empty(cache_dir_.path().toStdString() + "/analysis"));
    const kd::PreparedExperiment again = kd::prepare_experiment(c);
    QVERIFY(again.analysis->from_cache);
    QCOMPARE(again.analysis_seconds, 0.0);
    QCOMPARE(layers_of(again.resolved.teacher_layers), by_q);
    // Another criterion ranks the same analysis by its own score.
    c.teacher_layers =
        LayerChoice{LayerChoice::Kind::kCriterion, {}, kd::SelectionCriterion::kSeparation};
    QCOMPARE(layers_of(kd::prepare_experiment(c).resolved.teacher_layers),
             kd::select_layers(scores, 4, kd::SelectionCriterion::kSeparation));
  }

  void baselineAndExplicitLayers() {
    ExperimentConfig c = tiny(Method::kFitNets);
    kd::PreparedExperiment p = kd::prepare_experiment(c);
    QVERIFY(!p.analysis.has_value());
    QCOMPARE(layers_of(p.resolved.teacher_layers), kd::standard_layers(*p.teacher.model, 4));
    QCOMPARE(layers_of(p.resolved.teacher_layers), (std::vector<int>{2, 4, 6, 8}));
    QCOMPARE(layers_of(p.resolved.student_layers), (std::vector<int>{1, 2, 3, 4}));
    c.method = Method::kOurs;  // explicit lists stay, and no analysis runs
    c.teacher_layers = LayerChoice{LayerChoice::Kind::kExplicit, {9, 1, 5}, {}};
    c.student_layers = LayerChoice{LayerChoice::Kind::kExplicit, {2, 3, 5}, {}};
    p = kd::prepare_experiment(c);
    QVERIFY(!p.analysis.has_value());
    QCOMPARE(layers_of(p.resolved.teacher_layers), (std::vector<int>{9, 1, 5}));
    QCOMPARE(layers_of(p.resolved.student_layers), (std::vector<int>{2, 3, 5}));
    c.method = Method::kKD;  // logits only: layer lists are dropped
    p = kd::prepare_experiment(c);
    QVERIFY(!p.resolved.teacher_layers && !p.resolved.student_layers);
  }

  void optimizerDefaults() {
    ExperimentConfig c = tiny(Method::kStudent);
    c.dataset = "fashion-mnist";  // the installed set itself, once
    kd::PreparedExperiment p = kd::prepare_experiment(c);
    QCOMPARE(p.data.train.size(), int64_t{60000});
    QCOMPARE(p.train_indices.size(), size_t{100});
    QCOMPARE(*p.resolved.lr, 0.0075);
    QCOMPARE(*p.resolved.weight_decay, 0.01);
    QVERIFY(p.resolved.milestones.empty());  // one-cycle: none
    QVERIFY(p.resolved.teacher.empty() && p.notes.empty());
    c.optimizer = "sgd";
    c.schedule = "multistep";
    c.epochs = 24;
    p = kd::prepare_experiment(c);
    QCOMPARE(*p.resolved.lr, 0.05);
    QCOMPARE(*p.resolved.weight_decay, 5e-4);
    // 150/180/210 of 240 epochs, scaled.
    QCOMPARE(p.resolved.milestones, (std::vector<int64_t>{15, 18, 21}));
    c.epochs = 10;  // 6.25, 7.5, 8.75 rounded
    QCOMPARE(kd::prepare_experiment(c).resolved.milestones, (std::vector<int64_t>{6, 8, 9}));
    // 3.125, 3.75, 4.375 round to 3, 4, 4: a repeat that the experiment reader refuses (so
    // resolved.json could not be opened again); the later milestone moves up one epoch.
    c.epochs = 5;
    p = kd::prepare_experiment(c);
    QCOMPARE(p.resolved.milestones, (std::vector<int64_t>{3, 4, 5}));
    QCOMPARE(kd::experiment_from_json(kd::experiment_to_json(p.resolved), "r").milestones,
             p.resolved.milestones);
    c.epochs = 1;  // no room for more than one
    QCOMPARE(kd::prepare_experiment(c).resolved.milestones, (std::vector<int64_t>{1}));
    c.epochs = 10;
    c.lr = 0.02;  // given values stay
    c.weight_decay = 0.0;
    c.milestones = {3, 7};
    p = kd::prepare_experiment(c);
    QCOMPARE(*p.resolved.lr, 0.02);
    QCOMPARE(*p.resolved.weight_decay, 0.0);
    QCOMPARE(p.resolved.milestones, (std::vector<int64_t>{3, 7}));
    // method.md section 6 by family.
    QCOMPARE(kd::default_lr(kStudent, "adamw"), 0.0075);
    QCOMPARE(kd::default_lr(kStudent, "sgd"), 0.05);
    QCOMPARE(kd::default_lr("mobilenetv2:width=0.25", "adamw"), 0.0075);
    QCOMPARE(kd::default_lr("vgg11_bn:width=0.125", "adamw"), 0.005);
    QCOMPARE(kd::default_lr("vgg11_bn:width=0.125", "sgd"), 0.01);
    QCOMPARE(kd::default_lr("vit_ett", "adamw"), 0.001);
    QCOMPARE(kd::default_lr("vit_b", "adamw"), 1e-4);
    QCOMPARE(kd::default_lr("vit_ett", "sgd"), 0.01);
  }

  void resolvedConfigRoundTrips() {
    ExperimentConfig c = tiny(Method::kOurs);
    c.name = "round trip/1";
    const kd::PreparedExperiment p = kd::prepare_experiment(c);
    QCOMPARE(int(p.notes.size()), 1);
    QVERIFY2(contains(p.notes[0],
                      "the teacher '" + std::string(kTeacher) + "' is an untrained zoo model"),
             p.notes[0].c_str());
    QCOMPARE(p.device, std::string("cpu"));
    QCOMPARE(p.train_indices.size(), size_t{100});
    QCOMPARE(p.test_indices.size(), size_t{100});
    const std::string text = kd::experiment_to_json(p.resolved);
    const ExperimentConfig back = kd::experiment_from_json(text, "resolved.json");
    QCOMPARE(kd::experiment_to_json(back), text);
    QCOMPARE(layers_of(back.teacher_layers), layers_of(p.resolved.teacher_layers));
    QCOMPARE(*back.lr, *p.resolved.lr);
    const std::string hash = kd::experiment_hash(p.resolved);
    QCOMPARE(hash.size(), size_t{8});
    QCOMPARE(kd::experiment_hash(back), hash);
    QCOMPARE(kd::run_folder_name(p.resolved), "round_trip_1-" + hash);
    // Settings that change no number leave the hash alone; one that does changes it.
    ExperimentConfig other = p.resolved;
    other.device = "cuda";
    other.log_every = 99;
    other.teacher_cache = "disk";
    QCOMPARE(kd::experiment_hash(other), hash);
    other.lr = 0.001;
    QVERIFY(kd::experiment_hash(other) != hash);
    QCOMPARE(kd::run_folder_name(tiny(Method::kKD)).substr(0, 3), std::string("kd-"));
  }

  // ---- prepare_experiment: errors ----

  void prepareErrors_data() {
    QTest::addColumn<std::string>("method");
    QTest::addColumn<std::string>("student");
    QTest::addColumn<std::string>("teacher");
    QTest::addColumn<std::string>("student_layers");  // JSON list or ""
    QTest::addColumn<std::string>("teacher_layers");
    QTest::addColumn<QStringList>("parts");
    const auto row = [](const char* tag, const char* method, const char* student,
                        const char* teacher, const char* s_layers, const char* t_layers,
                        const QStringList& parts) {
      QTest::newRow(tag) << std::string(method) << std::string(student) << std::string(teacher)
                         << std::string(s_layers) << std::string(t_layers) << parts;
    };
    // Every problem found is reported, one per line.
    row("layers out of range", "fitnets", kStudent, kTeacher, "[1,2,3,6]", "[2,4,6,12]",
        {"student_layers: layer 6 is out of range: " + QString(kStudent) + " has layers 0-5",
         "teacher_layers: layer 12 is out of range: " + QString(kTeacher) + " has layers 0-9"});
    row("class counts", "kd", kStudent, "resnet18:channels=1,size=28,classes=5,width=0.125", "", "",
        {"the teacher has 5 classes and the student 10; they must agree",
         "teacher: the model resnet18:channels=1,size=28,classes=5,width=0.125 has 5 output "
         "classes but the dataset has 10"});
    row("input channels", "student", "resnet9:channels=3,size=28,width=0.125", "", "", "",
        {"student: the model resnet9:size=28,width=0.125 takes 3x28x28 inputs but the dataset's "
         "images are 1x28x28 (for a zoo model, set channels= and size="});
    row("no teacher", "ours", kStudent, "", "", "",
        {"method 'ours' needs a teacher; set \"teacher\""});
    row("unknown architecture", "kd", kStudent, "resnet50:channels=1,size=28", "", "",
        {"teacher: unknown model 'resnet50' (the zoo has: "});
  }
  void prepareErrors() {
    QFETCH(std::string, method);
    QFETCH(std::string, student);
    QFETCH(std::string, teacher);
    QFETCH(std::string, student_layers);
    QFETCH(std::string, teacher_layers);
    QFETCH(QStringList, parts);
    ExperimentConfig c = tiny(kd::parse_method(method));
    c.student = student;
    c.teacher = teacher;
    if (!student_layers.empty()) {
      c.student_layers = LayerChoice{
          LayerChoice::Kind::kExplicit, json::parse(student_layers).get<std::vector<int>>(), {}};
      c.teacher_layers = LayerChoice{
          LayerChoice::Kind::kExplicit, json::parse(teacher_layers).get<std::vector<int>>(), {}};
    }
    const std::string error = error_of([&] { kd::prepare_experiment(c); });
    for (const QString& part : parts) {
      QVERIFY2(contains(error, part.toStdString()), error.c_str());
    }
  }

  // ---- every method through ExperimentRunner ----

  void everyMethodTrainsAnEpoch_data() {
    QTest::addColumn<std::string>("method");
    QTest::addColumn<QStringList>("losses");  // in the objective's order
    const std::vector<std::pair<const char*, QStringList>> rows = {
        {"student", {"ce"}},
        {"kd", {"ce", "kd"}},
        {"kd_std", {"ce", "kd"}},
        {"fitnets", {"ce", "kd", "feat"}},
        {"fitnets_all", {"ce", "kd", "feat"}},
        {"sp", {"ce", "kd", "sp"}},
        {"simkd", {"ce", "kd"}},
        {"semckd", {"ce", "kd", "semckd"}},
        {"ours", {"ce", "feat"}},
        {"ours_ce", {"ce", "feat"}},
        {"ours_kd", {"ce", "kd", "feat"}}};
    for (const auto& [name, losses] : rows) QTest::newRow(name) << std::string(name) << losses;
  }
  void everyMethodTrainsAnEpoch() {
    QFETCH(std::string, method);
    QFETCH(QStringList, losses);
    QTemporaryDir out;
    Recorder recorder;
    kd::ExperimentResult result;
    const std::string dir =
        run(tiny(kd::parse_method(method)), out.path().toStdString(), &recorder, &result);
    QCOMPARE(int(recorder.epochs.size()), 1);
    const kd::EpochReport& last = recorder.epochs.back();
    QVERIFY2(std::isfinite(last.loss) && last.loss > 0, qPrintable(QString::number(last.loss)));
    QStringList got;
    for (const auto& [name, value] : last.losses) {
      got << QString::fromStdString(name);
      QVERIFY2(std::isfinite(value), name.c_str());
    }
    QCOMPARE(got, losses);
    QVERIFY(last.test_acc >= 0 && last.test_acc <= 100);
    QVERIFY(result.complete);
    // The untrained-teacher note reaches the observer whenever there is a teacher.
    const bool warned =
        std::any_of(recorder.notes.begin(), recorder.notes.end(),
                    [](const auto& n) { return contains(n, "is an untrained zoo model"); });
    QCOMPARE(warned, method != "student");
    QCOMPARE(result.seeds.at(0).history.back().loss, last.loss);
    // epochs.jsonl holds the same epoch (its losses object is keyed by name).
    std::ifstream lines(dir + "/seed-0/epochs.jsonl");
    std::vector<json> epochs;
    for (std::string line; std::getline(lines, line);) epochs.push_back(json::parse(line));
    QCOMPARE(int(epochs.size()), 1);
    std::set<std::string> in_file, expected;
    for (const auto& item : epochs[0].at("losses").items()) in_file.insert(item.key());
    for (const QString& l : losses) expected.insert(l.toStdString());
    QVERIFY(in_file == expected);
    QCOMPARE(epochs[0].at("loss").get<double>(), last.loss);
    QCOMPARE(epochs[0].at("test_acc").get<double>(), last.test_acc);
    QVERIFY(fs::exists(dir + "/seed-0/checkpoint.safetensors"));
    QVERIFY(fs::exists(dir + "/result.json"));
  }

  // ---- the teacher target cache changes nothing ----

  void teacherCacheChangesNoNumber() {
    std::vector<std::vector<kd::EpochReport>> runs;
    std::vector<kd::NamedTensors> students;
    std::vector<std::string> names;
    for (const char* cache : {"off", "memory", "disk"}) {
      QTemporaryDir out;
      ExperimentConfig c = tiny(Method::kOurs);
      c.epochs = 2;
      c.teacher_cache = cache;
      Recorder recorder;
      const std::string dir = run(c, out.path().toStdString(), &recorder);
      const std::string placement = std::string(cache) == "disk" ? "on disk" : "in memory";
      const bool cached = std::any_of(recorder.notes.begin(), recorder.notes.end(), [&](auto& n) {
        return contains(n, "teacher targets cached " + placement);
      });
      QCOMPARE(cached, std::string(cache) != "off");
      runs.push_back(recorder.epochs);
      students.push_back(kd::read_safetensors(dir + "/seed-0/student.kdmodel").tensors);
      names.push_back(fs::path(dir).filename().string());
    }
    QCOMPARE(names[1], names[0]);  // the cache placement is not part of the hash
    for (size_t r = 1; r < runs.size(); ++r) {
      QCOMPARE(runs[r].size(), runs[0].size());
      for (size_t e = 0; e < runs[0].size(); ++e) {
        QCOMPARE(runs[r][e].loss, runs[0][e].loss);
        QCOMPARE(runs[r][e].losses, runs[0][e].losses);
        QCOMPARE(runs[r][e].train_acc, runs[0][e].train_acc);
        QCOMPARE(runs[r][e].test_acc, runs[0][e].test_acc);
        QCOMPARE(runs[r][e].test_loss, runs[0][e].test_loss);
      }
      QCOMPARE(students[r].size(), students[0].size());
      for (size_t i = 0; i < students[0].size(); ++i) {
        QVERIFY2(torch::equal(students[r][i].second, students[0][i].second),
                 students[0][i].first.c_str());
      }
    }
  }

  // ---- result.json ----

  void meanStdByHand() {
    QCOMPARE(kd::mean_std({90, 92}), std::make_pair(91.0, 1.0));
    QCOMPARE(kd::mean_std({1}), std::make_pair(1.0, 0.0));
    QCOMPARE(kd::mean_std({2, 4, 4, 4, 5, 5, 7, 9}), std::make_pair(5.0, 2.0));  // ddof 0
    QCOMPARE(kd::mean_std({}), std::make_pair(0.0, 0.0));
  }

  void resultOfTwoSeeds() {
    QTemporaryDir out;
    ExperimentConfig c = tiny(Method::kKD);
    c.seeds = 2;
    c.seed = 5;
    c.epochs = 2;
    kd::ExperimentResult result;
    const std::string dir = run(c, out.path().toStdString(), nullptr, &result);
    const json j = json::parse(read_text(dir + "/result.json"));
    QCOMPARE(j.at("format").get<std::string>(), std::string("kdstudio-result"));
    QCOMPARE(j.at("complete").get<bool>(), true);
    QCOMPARE(j.at("method").get<std::string>(), std::string("kd"));
    QCOMPARE(j.at("config_hash").get<std::string>(),
             kd::experiment_hash(kd::experiment_from_json(read_text(dir + "/resolved.json"), "r")));
    const json& seeds = j.at("seeds");
    QCOMPARE(int(seeds.size()), 2);
    std::vector<double> best, last;
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(seeds[i].at("seed").get<uint64_t>(), uint64_t{5 + i});
      QCOMPARE(seeds[i].at("epochs").get<int>(), 2);
      const double b = seeds[i].at("best_test_acc").get<double>();
      const double l = seeds[i].at("last_test_acc").get<double>();
      QVERIFY(b >= l);
      // The best epoch's accuracy, from the seed's own metrics.
      const int be = seeds[i].at("best_epoch").get<int>();
      QCOMPARE(result.seeds[i].history.at(size_t(be)).test_acc, b);
      QCOMPARE(result.seeds[i].history.back().test_acc, l);
      best.push_back(b);
      last.push_back(l);
    }
    const auto [bm, bs] = kd::mean_std(best);
    const auto [lm, ls] = kd::mean_std(last);
    QCOMPARE(j.at("best_test_acc_mean").get<double>(), bm);
    QCOMPARE(j.at("best_test_acc_std").get<double>(), bs);
    QCOMPARE(j.at("last_test_acc_mean").get<double>(), lm);
    QCOMPARE(j.at("last_test_acc_std").get<double>(), ls);
    QCOMPARE(j.at("best_test_acc_mean").get<double>(), (best[0] + best[1]) / 2);
    QCOMPARE(j.at("best_test_acc_std").get<double>(), std::abs(best[0] - best[1]) / 2);
    // read_result gives back what run() returned.
    const kd::ExperimentResult back = kd::read_result(dir);
    QVERIFY(back.complete);
    QCOMPARE(back.run_dir, dir);
    QCOMPARE(back.seeds.size(), size_t{2});
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(back.seeds[i].seed, result.seeds[i].seed);
      QCOMPARE(back.seeds[i].epochs_done, result.seeds[i].epochs_done);
      QCOMPARE(back.seeds[i].best_test_acc, result.seeds[i].best_test_acc);
      QCOMPARE(back.seeds[i].best_epoch, result.seeds[i].best_epoch);
      QCOMPARE(back.seeds[i].last_test_acc, result.seeds[i].last_test_acc);
      QCOMPARE(back.seeds[i].seconds, result.seeds[i].seconds);
    }
    QCOMPARE(back.best_test_acc_mean, result.best_test_acc_mean);
    QCOMPARE(back.best_test_acc_std, result.best_test_acc_std);
    QCOMPARE(back.last_test_acc_mean, result.last_test_acc_mean);
    QCOMPARE(back.last_test_acc_std, result.last_test_acc_std);
    QVERIFY(contains(error_of([&] { kd::read_result(out.path().toStdString()); }),
                     "has no result.json"));
  }

  // ---- existing run folders ----

  void existingFolders() {
    QTemporaryDir out;
    const std::string root = out.path().toStdString();
    const ExperimentConfig c = tiny(Method::kStudent);
    const std::string given = "{\"student\": \"as typed\"}\n";
    auto first = kd::ExperimentRunner::create(c, given, root);
    const std::string dir = first->run_dir();
    QCOMPARE(dir, root + "/" + kd::run_folder_name(first->prepared().resolved));
    QCOMPARE(read_text(dir + "/config.json"), given);  // verbatim
    QCOMPARE(read_text(dir + "/resolved.json"),
             kd::experiment_to_json(first->prepared().resolved));
    std::string error = error_of([&] { kd::ExperimentRunner::create(c, "", root); });
    QVERIFY2(contains(error, "an unfinished run of this experiment exists: " + dir), error.c_str());
    first->run();
    error =
        error_of([&] { kd::ExperimentRunner::create(c, "", root, {}, kd::ExistingRun::kFail); });
    QVERIFY2(contains(error, "this experiment has been run already: " + dir), error.c_str());

    auto resumed = kd::ExperimentRunner::create(c, "", root, {}, kd::ExistingRun::kResume);
    QCOMPARE(resumed->run_dir(), dir);
    QCOMPARE(read_text(dir + "/config.json"), given);  // untouched
    const double before = kd::read_result(dir).last_test_acc_mean;
    QCOMPARE(resumed->run().last_test_acc_mean, before);  // nothing left to train

    { std::ofstream(dir + "/stale.txt") << "old"; }
    auto restarted = kd::ExperimentRunner::create(c, "", root, {}, kd::ExistingRun::kRestart);
    QCOMPARE(restarted->run_dir(), dir);
    QVERIFY(!fs::exists(dir + "/stale.txt"));
    QVERIFY(!fs::exists(dir + "/seed-0"));
    QVERIFY(!fs::exists(dir + "/result.json"));
    QVERIFY(fs::exists(dir + "/resolved.json"));
    QCOMPARE(read_text(dir + "/config.json"), kd::experiment_to_json(c) + "\n");

    error = error_of([&] { kd::ExperimentRunner::open(root); });
    QVERIFY2(contains(error, root + " is not a KD Studio run folder"), error.c_str());
  }

  // ---- export ----

  void exportStudent() {
    QTemporaryDir out;
    const std::string root = out.path().toStdString();
    auto runner = kd::ExperimentRunner::create(tiny(Method::kStudent), "", root);
    const std::string dir = runner->run_dir();
    const std::string file = root + "/exported.safetensors";
    std::string error = error_of([&] { kd::export_student(dir, file, {"safetensors"}); });
    QVERIFY2(contains(error, "seed 0 of " + dir + " has no final student yet"), error.c_str());
    runner->run();
    kd::export_student(dir, file, {"safetensors"});
    kd::LoadedModel exported = kd::load_model(file);
    QVERIFY(exported.origin == kd::ModelOrigin::kModelFile);
    QCOMPARE(exported.model->architecture(), std::string(kStudent));
    QCOMPARE(exported.metadata.at("method"), std::string("student"));
    kd::LoadedModel trained = kd::load_model(dir + "/seed-0/student.kdmodel");
    auto fresh = kd::build_student(runner->prepared(), 0);
    const auto a = exported.model->named_state();
    const auto b = trained.model->named_state();
    const auto f = fresh->named_state();
    QCOMPARE(a.size(), b.size());
    bool trained_differs = false;
    for (size_t i = 0; i < a.size(); ++i) {
      QCOMPARE(a[i].first, b[i].first);
      QVERIFY2(torch::equal(a[i].second, b[i].second), a[i].first.c_str());
      trained_differs = trained_differs || !torch::equal(a[i].second, f[i].second);
    }
    QVERIFY(trained_differs);  // it is the trained student, not a fresh one
    error = error_of([&] { kd::export_student(dir, root + "/x.pt", {"torchscript"}); });
    QVERIFY2(contains(error, "export it with --format safetensors"), error.c_str());
    error = error_of([&] { kd::export_student(dir, root + "/y", {"safetensors", false, uint64_t{7}}); });
    QVERIFY2(contains(error, "has no seed 7 (its seeds are 0 to 0)"), error.c_str());

    auto simkd = kd::ExperimentRunner::create(tiny(Method::kSimKD), "", root);
    error = error_of([&] { kd::export_student(simkd->run_dir(), root + "/z", {"safetensors"}); });
    QVERIFY2(contains(error, "SimKD runs cannot be exported"), error.c_str());
    QVERIFY(!fs::exists(root + "/z"));
  }

  // ---- checkpoint.h: optimizer state ----

  void optimizerStateRoundTrip_data() {
    QTest::addColumn<bool>("adamw");
    QTest::newRow("adamw") << true;
    QTest::newRow("sgd") << false;
  }
  void optimizerStateRoundTrip() {
    QFETCH(bool, adamw);
    const auto make = [&](torch::nn::Linear& m) -> std::unique_ptr<torch::optim::Optimizer> {
      if (adamw) {
        return std::make_unique<torch::optim::AdamW>(
            m->parameters(), torch::optim::AdamWOptions(0.05).weight_decay(0.01));
      }
      return std::make_unique<torch::optim::SGD>(
          m->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    };
    torch::nn::Linear a = small_linear();
    auto opt_a = make(a);
    step(*opt_a, a, 0);
    step(*opt_a, a, 1);
    // Saved through a safetensors file, as checkpoints are.
    QTemporaryDir dir;
    const std::string path = dir.path().toStdString() + "/optim.safetensors";
    kd::write_safetensors(path, kd::optimizer_state(*opt_a), {});
    const auto stored = as_map(kd::read_safetensors(path).tensors);
    std::set<std::string> names;
    for (const auto& [name, t] : stored) names.insert(name);
    const std::set<std::string> expected =
        adamw ? std::set<std::string>{"optim.0.step", "optim.0.exp_avg", "optim.0.exp_avg_sq",
                                      "optim.1.step", "optim.1.exp_avg", "optim.1.exp_avg_sq"}
              : std::set<std::string>{"optim.0.momentum_buffer", "optim.1.momentum_buffer"};
    QVERIFY(names == expected);
    if (adamw) QCOMPARE(stored.at("optim.0.step").item<int64_t>(), int64_t{2});

    torch::nn::Linear b = copy_of(a);
    auto opt_b = make(b);
    kd::load_optimizer_state(*opt_b, stored);
    torch::nn::Linear plain = copy_of(a);  // the same weights without the state
    auto opt_plain = make(plain);
    step(*opt_a, a, 2);
    step(*opt_b, b, 2);
    step(*opt_plain, plain, 2);
    QVERIFY(same_params(a, b));
    QVERIFY(!same_params(a, plain));  // the state matters, so the comparison above can fail

    // A parameter of another shape: the error names the state entry and both shapes.
    torch::nn::Linear wider = small_linear(4);
    auto opt_wider = make(wider);
    const std::string error = error_of([&] { kd::load_optimizer_state(*opt_wider, stored); });
    const std::string entry = adamw ? "optim.0.exp_avg" : "optim.0.momentum_buffer";
    QVERIFY2(contains(error, "optimizer state " + entry + " has shape 2x3, the parameter 2x4"),
             error.c_str());
  }
};

QTEST_GUILESS_MAIN(TestExperimentRunner)
#include "test_experiment_runner.moc"
