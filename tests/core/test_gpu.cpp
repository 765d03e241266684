// GPU tests (docs/gpu.md). Each one needs a CUDA device and a LibTorch built with CUDA; without
// them every test is skipped with a message saying so (Debian's LibTorch is CPU-only, so on the
// CI machine they all skip). On a GPU machine they check:
// - the paper's pair (resnet34 -> resnet9 at 3x32x32) trains end to end on CUDA with the paper's
//   method and with vanilla KD, teacher online and cached, and the losses of a first step equal
//   the CPU's for the same weights and batch (within TF32's precision);
// - a short Fashion-MNIST run with bf16 autocast ends within 2 points of test accuracy of the same
//   run in fp32 (and above 70%: it really learned);
// - the layer analysis on CUDA gives the CPU's scores and the same recommended layers;
// - running out of GPU memory is reported as kd::OutOfMemory with the batch size to try, and
//   the same trainer object's device stays usable.
#include <QtTest/QtTest>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "analysis/layer_analyzer.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "distill/distill_objective.h"
#include "distill/method.h"
#include "distill/standard_layers.h"
#include "distill/teacher_targets.h"
#include "distill/trainer.h"
#include "models/zoo/zoo_builder.h"
#include "fashion_data.h"
#include "test_util.h"

namespace {

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

/// Skips the calling test unless a CUDA device is there.
#define REQUIRE_CUDA()                                                                       \
  do {                                                                                      \
    if (!torch::cuda::is_available()) {                                                     \
      QSKIP("no CUDA device (or a CPU-only LibTorch): GPU test skipped, see docs/gpu.md"); \
    }                                                                                       \
  } while (0)

std::unique_ptr<kd::zoo::ZooModel> zoo_model(const std::string& spec, uint64_t seed) {
  return kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec), seed);
}

/// Random 3x32x32 images with random labels (the cost of a step does not depend on the values).
kd::DatasetSplit synthetic_split(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  kd::DatasetSplit s;
  s.images = torch::randint(0, 256, {n, 3, 32, 32}, torch::kUInt8);
  s.labels = torch::arange(n, torch::kInt64).remainder(10);
  return s;
}

kd::TrainData all_of(const kd::DatasetSplit& train, const kd::DatasetSplit& test) {
  kd::TrainData t;
  t.train = &train;
  t.test = &test;
  t.stats = kd::compute_channel_stats(train);
  for (int64_t i = 0; i < train.size(); ++i) t.train_indices.push_back(i);
  for (int64_t i = 0; i < test.size(); ++i) t.test_indices.push_back(i);
  return t;
}

/// Settings for the student alone (cross entropy).
kd::TrainerSettings student_alone(int epochs, int64_t batch_size) {
  kd::TrainerSettings s;
  s.objective.method = kd::Method::kStudent;
  s.epochs = epochs;
  s.batch_size = batch_size;
  return s;
}

using kdtest::fashion;

}  // namespace

class TestGpu : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    qInfo("CUDA available: %s, devices: %d", torch::cuda::is_available() ? "yes" : "no",
          static_cast<int>(torch::cuda::device_count()));
  }

  /// The paper's pair at CIFAR size, on CUDA: both methods, teacher online and cached, train a
  /// few steps with finite, decreasing-on-average losses, and write a checkpoint.
  void paperPairTrainsOnCuda_data() {
    QTest::addColumn<QString>("method");
    QTest::addColumn<bool>("cached");
    QTest::newRow("ours online") << "ours" << false;
    QTest::newRow("ours cached") << "ours" << true;
    QTest::newRow("kd online") << "kd" << false;
    QTest::newRow("kd cached") << "kd" << true;
  }
  void paperPairTrainsOnCuda() {
    REQUIRE_CUDA();
    QFETCH(QString, method);
    QFETCH(bool, cached);
    const kd::DatasetSplit train = synthetic_split(512, 1), test = synthetic_split(128, 2);
    const kd::TrainData data = all_of(train, test);
    auto teacher = zoo_model("resnet34", 3);
    auto student = zoo_model("resnet9", 4);
    kd::TrainerSettings s;
    s.objective.method = kd::parse_method(method.toStdString());
    if (method == "ours") {
      s.objective.teacher_layers = kd::standard_layers(*teacher, 4);
      s.objective.student_layers = kd::standard_layers(*student, 4);
    }
    s.epochs = 2;
    s.batch_size = 128;
    s.log_every = 1;
    const torch::Device cuda(torch::kCUDA, 0);
    std::unique_ptr<kd::TeacherTargetCache> cache;
    if (cached) {
      kd::CacheOptions o;
      o.device = "cuda";
      teacher->set_training(false);
      cache = std::make_unique<kd::TeacherTargetCache>(
          *teacher, kd::DistillObjective::request_for(s.objective, *student), train, data.stats,
          data.train_indices, o);
    }
    QTemporaryDir dir;
    kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, cache.get(), cuda, 4,
                      dir.path().toStdString() + "/seed-4");
    const kd::SeedResult r = t.run();
    QCOMPARE(r.epochs_done, 2);
    for (const kd::EpochReport& e : r.history) QVERIFY(std::isfinite(e.loss));
    QVERIFY(std::filesystem::exists(dir.path().toStdString() + "/seed-4/checkpoint.safetensors"));
    for (const auto& p : student->parameters()) QVERIFY(p.device().is_cuda());
  }

  /// The same weights and batch give the same losses on CUDA as on the CPU. cuDNN may use TF32
  /// for float32 convolutions (LibTorch's default; the switch's API changed in 2.9), whose
  /// 10-bit mantissa allows differences around 1e-3: the tolerance is 1e-2 relative.
  void firstStepLossesEqualTheCpu() {
    REQUIRE_CUDA();
    auto teacher = zoo_model("resnet34", 3);
    auto student = zoo_model("resnet9", 4);
    teacher->set_training(false);
    kd::ObjectiveSettings s;
    s.method = kd::Method::kOurs;
    s.teacher_layers = kd::standard_layers(*teacher, 4);
    s.student_layers = kd::standard_layers(*student, 4);
    torch::manual_seed(5);
    const torch::Tensor x = torch::randn({16, 3, 32, 32});
    const torch::Tensor y = torch::arange(16, torch::kInt64).remainder(10);
    auto losses_on = [&](const torch::Device& device) {
      teacher->to(device);
      student->to(device);
      torch::manual_seed(6);  // the projectors' initialisation
      kd::DistillObjective objective(s, *student, teacher.get());
      objective.to(device);
      objective.set_training(true);
      const kd::TeacherBatch targets =
          kd::run_teacher(*teacher, objective.teacher_request(), x.to(device));
      const kd::LossBreakdown b = objective.compute(x.to(device), y.to(device), targets);
      std::vector<double> out;
      for (const auto& [name, v] : b.parts) out.push_back(v.item<double>());
      return out;
    };
    const std::vector<double> cpu = losses_on(torch::kCPU);
    const std::vector<double> gpu = losses_on(torch::Device(torch::kCUDA, 0));
    QCOMPARE(gpu.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      QVERIFY2(std::abs(gpu[i] - cpu[i]) <= 1e-2 * std::max(1.0, std::abs(cpu[i])),
               qPrintable(QString("%1 vs %2").arg(gpu[i]).arg(cpu[i])));
    }
  }

  /// bf16 autocast: a short Fashion-MNIST run ends within 2 points of the fp32 run.
  void bf16AccuracyWithinToleranceOfFp32() {
    REQUIRE_CUDA();
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST not installed");
    const kd::TrainData data = kdtest::fashion_train_data(500, 200);
    auto accuracy = [&](bool bf16) {
      auto student = zoo_model("resnet9:channels=1,size=28,width=0.25", 2);
      kd::TrainerSettings s = student_alone(3, 128);
      s.lr = 0.01;
      s.mixed_precision = bf16;
      QTemporaryDir dir;
      kd::SeedTrainer t(s, data, *student, nullptr, nullptr, nullptr,
                        torch::Device(torch::kCUDA, 0), 2, dir.path().toStdString() + "/s");
      return t.run().last_test_acc;
    };
    const double fp32 = accuracy(false);
    const double bf16 = accuracy(true);
    qInfo("fp32 %.2f%%, bf16 %.2f%%", fp32, bf16);
    QVERIFY2(fp32 > 70.0, qPrintable(QString::number(fp32)));
    QVERIFY2(std::abs(bf16 - fp32) <= 2.0, qPrintable(QString("%1 vs %2").arg(bf16).arg(fp32)));
  }

  /// The analysis on CUDA gives the CPU's scores and recommendation.
  void analysisOnCudaEqualsCpu() {
    REQUIRE_CUDA();
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST not installed");
    auto model = zoo_model("resnet18:channels=1,size=28,width=0.25", 1);
    kd::AnalysisSettings s;
    s.per_class_a = 30;
    s.per_class_b = 20;
    s.geometry_samples = 0;
    s.device = "cpu";
    const kd::AnalysisResult cpu = kd::analyze_layers(*model, fashion(), s);
    s.device = "cuda";
    const kd::AnalysisResult gpu = kd::analyze_layers(*model, fashion(), s);
    QCOMPARE(gpu.layers.size(), cpu.layers.size());
    for (size_t i = 0; i < cpu.layers.size(); ++i) {
      const double a = cpu.layers[i].scores.quality, b = gpu.layers[i].scores.quality;
      QVERIFY2(std::abs(a - b) <= 1e-3 * std::max(1.0, std::abs(a)),
               qPrintable(QString("layer %1: %2 vs %3").arg(i).arg(a).arg(b)));
    }
    QCOMPARE(gpu.recommended, cpu.recommended);
  }

  /// Out of GPU memory: kd::OutOfMemory naming the batch size to try; the device works after.
  void outOfMemoryIsReportedWithTheBatchSize() {
    REQUIRE_CUDA();
    // A batch of 60000 CIFAR-size images through resnet34's activations needs far more than
    // any GPU has.
    const kd::DatasetSplit train = synthetic_split(60000, 1), test = synthetic_split(16, 2);
    const kd::TrainData data = all_of(train, test);
    auto student = zoo_model("resnet34", 4);
    kd::TrainerSettings s = student_alone(1, 60000);
    s.loader_workers = 0;
    QTemporaryDir dir;
    const std::string error = kdtest::error_of([&] {
      kd::SeedTrainer t(s, data, *student, nullptr, nullptr, nullptr,
                        torch::Device(torch::kCUDA, 0), 0, dir.path().toStdString() + "/s");
      try {
        t.run();
      } catch (const kd::OutOfMemory& e) {
        throw kd::Error(std::string("[OutOfMemory] ") + e.what());
      }
    });
    QVERIFY2(error.find("[OutOfMemory] out of memory on the GPU") != std::string::npos,
             error.c_str());
    QVERIFY2(error.find("batch size 60000") != std::string::npos, error.c_str());
    QVERIFY2(error.find("try a batch size of 30000, mixed precision (bf16)") != std::string::npos,
             error.c_str());
    // The GPU is still usable.
    const torch::Tensor x = torch::ones({4, 4}, torch::Device(torch::kCUDA, 0));
    QCOMPARE(x.sum().item<double>(), 16.0);
  }
};

QTEST_APPLESS_MAIN(TestGpu)
#include "test_gpu.moc"
