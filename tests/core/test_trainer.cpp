// The training loop and the method switches: in "ours" no cross-entropy gradient reaches the
// backbone; identical teacher and student give a zero feature loss; cached teacher targets equal
// online ones; a short training beats chance by far; an interrupted run resumes to the very
// numbers of an uninterrupted one; a NaN loss stops with a message naming the component and
// keeps the last good checkpoint; standard layer choices match method.md.
#include <QtTest/QtTest>
#include <torch/torch.h>

#include <filesystem>
#include <memory>

#include "common/allocator.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "distill/distill_objective.h"
#include "distill/standard_layers.h"
#include "distill/teacher_targets.h"
#include "distill/trainer.h"
#include "io/safetensors.h"
#include "models/zoo/zoo_builder.h"
#include "fashion_data.h"
#include "test_util.h"

namespace {

using kdtest::contains;
using kdtest::error_of;

std::unique_ptr<kd::zoo::ZooModel> tiny(uint64_t seed) { return kdtest::tiny_resnet9(seed); }

/// Cancels after `steps` on_step reports; counts the epochs it saw.
class StopAfter final : public kd::TrainObserver {
 public:
  explicit StopAfter(int steps) : left_(steps) {}
  void on_step(const kd::StepReport&) override { --left_; }
  void on_epoch(const kd::EpochReport& r) override { epochs.push_back(r); }
  bool cancelled() const override { return left_ <= 0; }
  std::vector<kd::EpochReport> epochs;

 private:
  int left_;
};

kd::TrainData train_data(int64_t train_per_class, int64_t test_per_class) {
  return kdtest::fashion_train_data(train_per_class, test_per_class);
}

kd::TrainerSettings settings_for(kd::Method method, int epochs) {
  kd::TrainerSettings s;
  s.objective.method = method;
  if (method != kd::Method::kStudent && method != kd::Method::kKD) {
    s.objective.student_layers = {1, 2, 3, 4};
    s.objective.teacher_layers = {1, 2, 3, 4};
  }
  s.lr = 0.01;
  s.epochs = epochs;
  s.batch_size = 50;
  s.log_every = 5;
  s.loader_workers = 1;
  return s;
}

/// Records every step and epoch report.
class Recorder final : public kd::TrainObserver {
 public:
  void on_step(const kd::StepReport& r) override { steps.push_back(r); }
  void on_epoch(const kd::EpochReport& r) override { epochs.push_back(r); }
  std::vector<kd::StepReport> steps;
  std::vector<kd::EpochReport> epochs;
};

bool close(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(1.0, std::max(std::abs(a), std::abs(b)));
}

}  // namespace

class TestTrainer : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { torch::set_num_threads(2); }

  void oursSendsNoCrossEntropyIntoTheBackbone() {
    auto student = tiny(1);
    auto teacher = tiny(2);
    teacher->set_training(false);
    kd::ObjectiveSettings s;
    s.method = kd::Method::kOurs;
    s.student_layers = {1, 2, 3};
    s.teacher_layers = {2, 3, 4};
    kd::DistillObjective objective(s, *student, teacher.get());
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn({6, 1, 28, 28});
    const torch::Tensor y = torch::randint(0, 10, {6}, torch::kInt64);
    const kd::TeacherBatch t = kd::run_teacher(*teacher, objective.teacher_request(), x);
    QVERIFY(!t.logits.defined());  // "ours" uses no KL, so it asks for no teacher logits
    kd::LossBreakdown loss = objective.compute(x, y, t);
    QCOMPARE(loss.parts.size(), size_t(2));
    QCOMPARE(QString::fromStdString(loss.parts[0].first), QString("ce"));
    loss.parts[0].second.backward();  // the CE alone
    int backbone = 0, head = 0;
    for (auto& [name, p] : student->named_state()) {
      if (!p.requires_grad()) continue;
      const bool in_backbone = name.rfind("layers.", 0) == 0 && std::stoi(name.substr(7)) <= 3;
      const double g = p.grad().defined() ? p.grad().abs().sum().item<double>() : 0.0;
      if (in_backbone) {
        QCOMPARE(g, 0.0);  // exactly zero: the head learns from a detached feature
        ++backbone;
      } else if (g > 0) {
        ++head;
      }
    }
    QVERIFY(backbone > 10);
    QVERIFY(head > 0);
    // Ours + CE lets the same gradient through.
    auto student2 = tiny(1);
    s.method = kd::Method::kOursCE;
    kd::DistillObjective with_ce(s, *student2, teacher.get());
    with_ce.compute(x, y, t).parts[0].second.backward();
    double reached = 0;
    for (auto& [name, p] : student2->named_state()) {
      if (name.rfind("layers.0.", 0) == 0 && p.grad().defined()) reached += p.grad().abs().sum().item<double>();
    }
    QVERIFY(reached > 0);
  }

  void identicalModelsGiveZeroFeatureLoss() {
    auto student = tiny(5);
    auto teacher = tiny(5);  // same seed: same weights
    student->set_training(false);
    teacher->set_training(false);
    kd::ObjectiveSettings s;
    s.method = kd::Method::kFitNets;
    s.student_layers = {1, 2, 3, 4};
    s.teacher_layers = {1, 2, 3, 4};
    kd::DistillObjective objective(s, *student, teacher.get());
    objective.set_training(false);
    // Identity projectors.
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : objective.named_state()) {
      if (name.find("weight") != std::string::npos && t.dim() == 4) {
        t.copy_(torch::eye(t.size(0)).view({t.size(0), t.size(1), 1, 1}));
      }
    }
    const torch::Tensor x = torch::randn({4, 1, 28, 28});
    const torch::Tensor y = torch::randint(0, 10, {4}, torch::kInt64);
    const kd::LossBreakdown loss =
        objective.compute(x, y, kd::run_teacher(*teacher, objective.teacher_request(), x));
    QCOMPARE(loss.parts.size(), size_t(3));
    QCOMPARE(QString::fromStdString(loss.parts[1].first), QString("kd"));
    QCOMPARE(loss.parts[1].second.item<double>(), 0.0);   // same logits: KL is 0
    QCOMPARE(QString::fromStdString(loss.parts[2].first), QString("feat"));
    QCOMPARE(loss.parts[2].second.item<double>(), 0.0);   // same features: MSE is 0
  }

  void cachedTargetsEqualOnlineOnes_data() {
    QTest::addColumn<bool>("disk");
    QTest::addColumn<bool>("fp16");
    QTest::newRow("memory") << false << false;
    QTest::newRow("disk") << true << false;
    QTest::newRow("memory fp16") << false << true;
  }
  void cachedTargetsEqualOnlineOnes() {
    QFETCH(bool, disk);
    QFETCH(bool, fp16);
    auto teacher = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet18:channels=1,size=28,width=0.125"), 4);
    teacher->set_training(false);
    auto student = tiny(1);
    kd::ObjectiveSettings s;
    s.method = kd::Method::kOursKD;
    s.student_layers = {1, 4};
    s.teacher_layers = {2, 9};  // a 28x28 map against a 28x28 one; the flattened feature
    const kd::TeacherRequest request = kd::DistillObjective::request_for(s, *student);
    QVERIFY(request.logits);
    QTemporaryDir dir;
    const kd::TrainData data = train_data(3, 1);
    kd::CacheOptions options;
    options.storage = disk ? kd::CacheStorage::kDisk : kd::CacheStorage::kMemory;
    options.fp16 = fp16;
    options.disk_dir = dir.path().toStdString();
    options.batch_size = 7;
    kd::TeacherTargetCache cache(*teacher, request, *data.train, data.stats, data.train_indices, options);
    QCOMPARE(cache.bytes(), kd::TeacherTargetCache::bytes_per_sample(*teacher, request, fp16) * 30);
    // Nothing is left on disk: the file is unlinked as soon as it is mapped.
    QCOMPARE(int(std::distance(std::filesystem::directory_iterator(options.disk_dir),
                               std::filesystem::directory_iterator())), 0);
    const std::vector<int64_t> pick = {data.train_indices[17], data.train_indices[2], data.train_indices[29]};
    const torch::Tensor samples = torch::tensor(pick, torch::kInt64);
    const kd::TeacherBatch cached = cache.gather(samples, torch::kCPU);
    const torch::Tensor images = kd::to_normalized_float(data.train->images.index_select(0, samples), data.stats);
    const kd::TeacherBatch online = kd::run_teacher(*teacher, request, images);
    const double tol = fp16 ? 2e-2 : 1e-5;
    QCOMPARE(cached.features.size(), size_t(2));
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(cached.features[i].sizes().vec(), online.features[i].sizes().vec());
      QVERIFY(torch::allclose(cached.features[i], online.features[i], tol, tol));
    }
    QVERIFY(torch::allclose(cached.logits, online.logits, tol, tol));
    const std::vector<int64_t> absent = {data.train_indices[0] + 1 == data.train_indices[1] ? 59999 : data.train_indices[0] + 1};
    QVERIFY(contains(error_of([&] { cache.gather(torch::tensor(absent, torch::kInt64), torch::kCPU); }),
                     "missing from the teacher target cache"));
  }

  // docs/performance.md: the speed-ups (allocator settings, loader threads preparing batches
  // ahead, cached teacher targets) must not change the numbers. The same seed trained with all
  // of them off (glibc's allocator defaults, batches made on the training thread, the teacher run
  // online) and all of them on gives the same loss curve, step by step, to float tolerance.
  void optimisationsKeepTheLossCurve() {
    QTemporaryDir dir;
    const std::string root = dir.path().toStdString();
    const kd::TrainData data = train_data(30, 20);  // 6 steps per epoch
    auto teacher = kd::zoo::create_zoo_model(
        kd::zoo::parse_zoo_spec("resnet18:channels=1,size=28,width=0.125"), 4);
    teacher->set_training(false);
    kd::TrainerSettings s = settings_for(kd::Method::kOurs, 2);
    s.objective.teacher_layers = {2, 4, 6, 8};
    s.log_every = 1;

    s.loader_workers = 0;
    s.teacher_inference_copy = false;
    Recorder plain;
    {
      auto student = tiny(3);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 3,
                        root + "/plain");
      t.run(&plain);
    }

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)  // ASan brings its own allocator
    QVERIFY(kd::tune_allocator() != kd::AllocatorTuning::kUnsupported);
#else
    kd::tune_allocator();
#endif
    s.loader_workers = 2;
    s.teacher_inference_copy = true;  // online teacher: BatchNorm folded, NHWC
    Recorder online;
    {
      auto student = tiny(3);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 3,
                        root + "/online");
      t.run(&online);
    }
    Recorder cached;
    {
      auto student = tiny(3);
      kd::CacheOptions options;
      options.batch_size = 64;  // not the training batch: the cache batches differently
      const kd::TeacherRequest request = kd::DistillObjective::request_for(s.objective, *student);
      const kd::TeacherTargetCache cache(*teacher, request, *data.train, data.stats,
                                         data.train_indices, options);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, &cache, torch::kCPU, 3,
                        root + "/cached");
      t.run(&cached);
    }
    kd::release_free_memory();

    QCOMPARE(plain.steps.size(), size_t(12));
    // Training moved: the curve compared is not flat.
    QVERIFY(std::abs(plain.steps.front().loss - plain.steps.back().loss) > 1e-3);
    for (const Recorder* fast : {&online, &cached}) {
      QCOMPARE(fast->steps.size(), plain.steps.size());
      for (size_t i = 0; i < plain.steps.size(); ++i) {
        const kd::StepReport& a = plain.steps[i];
        const kd::StepReport& b = fast->steps[i];
        QCOMPARE(b.step, a.step);
        QCOMPARE(b.lr, a.lr);
        QVERIFY2(close(a.loss, b.loss, 1e-4),
                 qPrintable(QString("step %1: %2 vs %3").arg(i).arg(a.loss).arg(b.loss)));
        QCOMPARE(b.losses.size(), a.losses.size());
        for (size_t k = 0; k < a.losses.size(); ++k) {
          QCOMPARE(b.losses[k].first, a.losses[k].first);
          QVERIFY2(close(a.losses[k].second, b.losses[k].second, 1e-4), a.losses[k].first.c_str());
        }
      }
      QCOMPARE(fast->epochs.size(), size_t(2));
      for (size_t e = 0; e < 2; ++e) {
        QVERIFY(close(plain.epochs[e].test_loss, fast->epochs[e].test_loss, 1e-4));
        QVERIFY(std::abs(plain.epochs[e].test_acc - fast->epochs[e].test_acc) <= 100.0 / 200 + 1e-9);
      }
    }
  }

  void shortTrainingBeatsChance() {
    QTemporaryDir dir;
    const kd::TrainData data = train_data(100, 50);
    auto student = tiny(0);
    kd::TrainerSettings s = settings_for(kd::Method::kStudent, 3);
    kd::SeedTrainer trainer(s, data, *student, nullptr, nullptr, nullptr, torch::kCPU, 0,
                            dir.path().toStdString() + "/seed-0");
    const kd::SeedResult r = trainer.run();
    QCOMPARE(r.epochs_done, 3);
    QCOMPARE(int(r.history.size()), 3);
    // 10 classes: chance is 10%. 1000 images and 60 steps already give far more.
    QVERIFY2(r.last_test_acc > 55.0, qPrintable(QString::number(r.last_test_acc)));
    QVERIFY(r.best_test_acc >= r.last_test_acc);
    QVERIFY(std::filesystem::exists(dir.path().toStdString() + "/seed-0/checkpoint.safetensors"));
  }

  void resumeReproducesAnUninterruptedRun() {
    QTemporaryDir dir;
    const std::string root = dir.path().toStdString();
    const kd::TrainData data = train_data(30, 20);
    auto teacher = tiny(9);
    teacher->set_training(false);
    const kd::TrainerSettings s = settings_for(kd::Method::kOurs, 3);  // 6 steps per epoch
    kd::SeedResult straight;
    {
      auto student = tiny(7);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, root + "/a");
      straight = t.run();
    }
    {
      auto student = tiny(7);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, root + "/b");
      StopAfter stop(3);  // reports at steps 5, 6 (end of epoch 1), 10 -> stops inside epoch 2
      QVERIFY(contains(error_of([&] { t.run(&stop); }), "cancelled"));
      QCOMPARE(int(stop.epochs.size()), 1);
    }
    auto student = tiny(7);  // a fresh process would rebuild it the same way
    kd::SeedTrainer resumed(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, root + "/b");
    const kd::SeedResult again = resumed.run();
    QCOMPARE(again.epochs_done, 3);
    for (int e = 0; e < 3; ++e) {
      QCOMPARE(again.history[e].test_acc, straight.history[e].test_acc);
      QCOMPARE(again.history[e].loss, straight.history[e].loss);
    }
    const auto a = kd::read_safetensors(root + "/a/checkpoint.safetensors");
    const auto b = kd::read_safetensors(root + "/b/checkpoint.safetensors");
    QCOMPARE(a.tensors.size(), b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      QCOMPARE(QString::fromStdString(a.tensors[i].first), QString::fromStdString(b.tensors[i].first));
      QVERIFY2(torch::equal(a.tensors[i].second, b.tensors[i].second), a.tensors[i].first.c_str());
    }
    // The metrics files hold each epoch once.
    std::ifstream epochs(root + "/b/epochs.jsonl");
    int lines = 0;
    for (std::string line; std::getline(epochs, line);) ++lines;
    QCOMPARE(lines, 3);
  }

  void nanLossStopsAndKeepsTheLastCheckpoint() {
    QTemporaryDir dir;
    const std::string seed_dir = dir.path().toStdString() + "/seed-0";
    const kd::TrainData data = train_data(10, 5);
    auto teacher = tiny(3);
    teacher->set_training(false);
    kd::TrainerSettings s = settings_for(kd::Method::kKD, 1);
    {
      auto student = tiny(0);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 0, seed_dir);
      t.run();
    }
    const auto before = kd::read_safetensors(seed_dir + "/checkpoint.safetensors");
    QCOMPARE(QString::fromStdString(before.metadata.at("epochs_done")), QString("1"));
    {
      torch::NoGradGuard no_grad;
      for (auto& [name, t] : teacher->named_state()) {
        if (name.rfind("classifier", 0) == 0 && t.is_floating_point()) t.fill_(std::nan(""));
      }
    }
    s.epochs = 2;
    auto student = tiny(0);
    kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 0, seed_dir);
    const std::string msg = error_of([&] { t.run(); });
    QVERIFY2(contains(msg, "'kd' loss became NaN in epoch 2"), msg.c_str());
    QVERIFY(contains(msg, "last good checkpoint is kept"));
    const auto after = kd::read_safetensors(seed_dir + "/checkpoint.safetensors");
    QCOMPARE(QString::fromStdString(after.metadata.at("epochs_done")), QString("1"));
  }

  void standardLayers_data() {
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QVector<int>>("expected");
    QTest::newRow("resnet34") << "resnet34" << QVector<int>{3, 7, 13, 16};
    QTest::newRow("resnet9") << "resnet9" << QVector<int>{1, 2, 3, 4};
    QTest::newRow("vgg19_bn") << "vgg19_bn:width=0.125" << QVector<int>{3, 7, 11, 15};
    QTest::newRow("vgg11_bn") << "vgg11_bn:width=0.125" << QVector<int>{1, 3, 5, 7};
    QTest::newRow("mobilenetv2") << "mobilenetv2:width=0.25" << QVector<int>{3, 6, 13, 17};
    QTest::newRow("vit_ett") << "vit_ett" << QVector<int>{1, 3, 5, 7};
    // Not in the paper's table: the last layer of each resolution (28, 14, 7, 4).
    QTest::newRow("resnet18 at 28") << "resnet18:channels=1,size=28,width=0.125" << QVector<int>{2, 4, 6, 8};
  }
  void standardLayers() {
    QFETCH(QString, spec);
    QFETCH(QVector<int>, expected);
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec.toStdString()));
    const std::vector<int> got = kd::standard_layers(*model, 4);
    QCOMPARE(QVector<int>(got.begin(), got.end()), expected);
  }

  void objectiveRejectsBadLayers() {
    auto student = tiny(0);
    auto teacher = tiny(1);
    kd::ObjectiveSettings s;
    s.method = kd::Method::kOurs;
    s.student_layers = {1, 2};
    s.teacher_layers = {1, 9};
    QVERIFY(contains(error_of([&] { kd::DistillObjective o(s, *student, teacher.get()); }),
                     "teacher layer 9 is out of range"));
    s.teacher_layers = {1, 2, 3};
    QVERIFY(contains(error_of([&] { kd::DistillObjective o(s, *student, teacher.get()); }),
                     "pairs layers one-to-one"));
    s.teacher_layers = {1, 2};
    QVERIFY(contains(error_of([&] { kd::DistillObjective o(s, *student, nullptr); }),
                     "needs a teacher"));
  }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
