// Multi-layer feature losses (core/distill/multi_layer_losses.h): the all-pairs FitNets mapping
// and SemCKD. Values and gradients are compared with PyTorch's, computed once by
// scripts/reference_multi_layer_losses.py into
// tests/fixtures/multi_layer_losses_reference.safetensors; the rest are hand checks.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "distill/losses.h"
#include "distill/multi_layer_losses.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace {

using kdtest::error_of;

/// Relative tolerance of the reference comparisons (computed in float64 on both sides).
constexpr double kRelTol = 1e-5;
/// SemCKD embedding size used by the reference script.
constexpr int64_t kReferenceEmbedDim = 8;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::map<std::string, torch::Tensor>& reference() {
  static const std::map<std::string, torch::Tensor> tensors = [] {
    std::map<std::string, torch::Tensor> m;
    for (auto& [name, t] :
         kd::read_safetensors(kdtest::fixture("multi_layer_losses_reference.safetensors"))
             .tensors) {
      m[name] = t.to(torch::kDouble);
    }
    return m;
  }();
  return tensors;
}

torch::Tensor fixture_tensor(const std::string& name) {
  const auto it = reference().find(name);
  if (it == reference().end()) throw std::runtime_error("fixture lacks " + name);
  return it->second;
}

/// Names of the fixture tensors under `prefix`, with the prefix removed.
std::set<std::string> fixture_names(const std::string& prefix) {
  std::set<std::string> names;
  for (const auto& [name, t] : reference()) {
    if (name.rfind(prefix, 0) == 0) names.insert(name.substr(prefix.size()));
  }
  return names;
}

std::set<std::string> parameter_names(const torch::nn::Module& module) {
  std::set<std::string> names;
  for (const auto& p : module.named_parameters()) names.insert(p.key());
  return names;
}

/// The inputs of one reference case ("<loss>/<case>/"), with their shapes without the batch.
struct ReferenceCase {
  std::vector<torch::Tensor> student, teacher;
  std::vector<kd::FeatureShape> student_shapes, teacher_shapes;
};

std::vector<torch::Tensor> numbered(const std::string& prefix) {
  std::vector<torch::Tensor> out;
  while (reference().count(prefix + std::to_string(out.size())) != 0) {
    out.push_back(fixture_tensor(prefix + std::to_string(out.size())));
  }
  return out;
}

std::vector<kd::FeatureShape> shapes_of(const std::vector<torch::Tensor>& features) {
  std::vector<kd::FeatureShape> shapes;
  for (const auto& f : features) shapes.push_back(f.sizes().slice(1).vec());
  return shapes;
}

ReferenceCase load_case(const std::string& base) {
  ReferenceCase c;
  c.student = numbered(base + "student/");
  c.teacher = numbered(base + "teacher/");
  c.student_shapes = shapes_of(c.student);
  c.teacher_shapes = shapes_of(c.teacher);
  return c;
}

/// Makes the student inputs leaves that collect gradients.
std::vector<torch::Tensor> with_grad(const std::vector<torch::Tensor>& features) {
  std::vector<torch::Tensor> out;
  for (const auto& f : features) out.push_back(f.clone().requires_grad_());
  return out;
}

/// Copies the fixture's "<base>param/<name>" into each parameter of the module.
void copy_parameters(torch::nn::Module& module, const std::string& base) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters())
    p.value().copy_(fixture_tensor(base + "param/" + p.key()));
}

/// True when max|actual - expected| <= tol * max(max|expected|, 1e-12) and shapes match.
bool close(const torch::Tensor& actual, const torch::Tensor& expected, double tol = kRelTol) {
  if (!actual.defined() || actual.sizes() != expected.sizes()) return false;
  const double scale = std::max(expected.abs().max().item<double>(), 1e-12);
  return (actual.to(torch::kDouble) - expected).abs().max().item<double>() <= tol * scale;
}

std::string describe(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (!actual.defined()) return "actual is undefined";
  std::ostringstream s;
  s << "actual " << actual.sizes() << " expected " << expected.sizes();
  if (actual.sizes() == expected.sizes()) {
    s << ", max abs diff " << (actual.to(torch::kDouble) - expected).abs().max().item<double>()
      << ", max abs expected " << expected.abs().max().item<double>();
  }
  return s.str();
}

#define EXPECT_CLOSE(actual, expected) \
  QVERIFY2(close(actual, expected), describe(actual, expected).c_str())

/// Checks the student and parameter gradients against "<base>grad_student/<i>" and
/// "<base>grad_param/<name>".
void expect_reference_gradients(const torch::nn::Module& module,
                                const std::vector<torch::Tensor>& student,
                                const std::string& base) {
  for (size_t i = 0; i < student.size(); ++i) {
    EXPECT_CLOSE(student[i].grad(), fixture_tensor(base + "grad_student/" + std::to_string(i)));
  }
  for (const auto& p : module.named_parameters()) {
    QVERIFY2(close(p.value().grad(), fixture_tensor(base + "grad_param/" + p.key())),
             (p.key() + ": " +
              describe(p.value().grad(), fixture_tensor(base + "grad_param/" + p.key())))
                 .c_str());
  }
}

std::vector<torch::Tensor> random_features(const std::vector<kd::FeatureShape>& shapes,
                                           int64_t batch) {
  std::vector<torch::Tensor> out;
  for (const auto& s : shapes) {
    std::vector<int64_t> full{batch};
    full.insert(full.end(), s.begin(), s.end());
    out.push_back(torch::randn(full, torch::kDouble));
  }
  return out;
}

/// Rows of the data-driven reference tests: the cases of the reference script.
void add_reference_rows() {
  QTest::addColumn<QString>("name");
  QTest::newRow("CNN maps") << "cnn";
  QTest::newRow("flat vector and ViT tokens") << "flat_tokens";
}

using Shapes = std::vector<kd::FeatureShape>;
const Shapes kStudentCnn = {{4, 8, 8}, {8, 4, 4}};
const Shapes kTeacherCnn = {{6, 8, 8}, {10, 4, 4}, {12, 2, 2}};

}  // namespace

class TestMultiLayerLosses : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { torch::manual_seed(11); }

  void allPairsMatchesPyTorch_data() { add_reference_rows(); }
  void allPairsMatchesPyTorch() {
    QFETCH(QString, name);
    const std::string base = "allpairs/" + name.toStdString() + "/";
    const ReferenceCase c = load_case(base);
    QVERIFY(c.student.size() == 2 && c.teacher.size() >= 2);
    kd::AllPairsFeatureLoss loss_fn(c.student_shapes, c.teacher_shapes);
    loss_fn->to(torch::kDouble);
    QVERIFY(parameter_names(*loss_fn) == fixture_names(base + "param/"));
    copy_parameters(*loss_fn, base);
    const std::vector<torch::Tensor> student = with_grad(c.student);
    const torch::Tensor loss = loss_fn->forward(student, c.teacher);
    loss.backward();
    EXPECT_CLOSE(loss.reshape({1}), fixture_tensor(base + "loss"));
    expect_reference_gradients(*loss_fn, student, base);
  }

  void semCkdMatchesPyTorch_data() { add_reference_rows(); }
  void semCkdMatchesPyTorch() {
    QFETCH(QString, name);
    const std::string base = "semckd/" + name.toStdString() + "/";
    const ReferenceCase c = load_case(base);
    kd::SemCkdLoss loss_fn(c.student_shapes, c.teacher_shapes, kReferenceEmbedDim);
    loss_fn->to(torch::kDouble);
    QVERIFY(parameter_names(*loss_fn) == fixture_names(base + "param/"));
    copy_parameters(*loss_fn, base);
    const std::vector<torch::Tensor> student = with_grad(c.student);
    torch::Tensor attention;
    const torch::Tensor loss = loss_fn->forward(student, c.teacher, &attention);
    loss.backward();
    EXPECT_CLOSE(loss.reshape({1}), fixture_tensor(base + "loss"));
    EXPECT_CLOSE(attention, fixture_tensor(base + "attention"));
    QVERIFY(!attention.requires_grad());
    expect_reference_gradients(*loss_fn, student, base);
  }

  void semCkdWorksInFloat32() {
    const std::string base = "semckd/cnn/";
    const ReferenceCase c = load_case(base);
    kd::SemCkdLoss loss_fn(c.student_shapes, c.teacher_shapes, kReferenceEmbedDim);
    copy_parameters(*loss_fn, base);
    std::vector<torch::Tensor> student, teacher;
    for (const auto& s : c.student) student.push_back(s.to(torch::kFloat));
    for (const auto& t : c.teacher) teacher.push_back(t.to(torch::kFloat));
    const torch::Tensor loss = loss_fn->forward(student, teacher);
    QCOMPARE(loss.scalar_type(), torch::kFloat);
    QVERIFY2(close(loss.reshape({1}), fixture_tensor(base + "loss"), 1e-4),
             describe(loss.reshape({1}), fixture_tensor(base + "loss")).c_str());
  }

  void parameterNamesAndShapes() {
    kd::AllPairsFeatureLoss cnn(kStudentCnn, kTeacherCnn);
    auto p = cnn->named_parameters();
    QCOMPARE(p.size(), size_t{6});
    QCOMPARE(p["proj_0_0.conv.weight"].sizes().vec(), (std::vector<int64_t>{6, 4, 1, 1}));
    QCOMPARE(p["proj_1_2.conv.weight"].sizes().vec(), (std::vector<int64_t>{12, 8, 1, 1}));

    // (C) against tokens is a 1-D pair, (C) against (C) a 1x1 map.
    kd::SemCkdLoss mixed(Shapes{{16}, {5, 12}}, Shapes{{9, 20}, {24}}, 32);
    p = mixed->named_parameters();
    QCOMPARE(p["proj_0_0.conv.weight"].sizes().vec(), (std::vector<int64_t>{20, 16, 1}));
    QCOMPARE(p["proj_0_1.conv.weight"].sizes().vec(), (std::vector<int64_t>{24, 16, 1, 1}));
    QCOMPARE(p["proj_1_0.conv.weight"].sizes().vec(), (std::vector<int64_t>{20, 12, 1}));
    QCOMPARE(p["proj_1_1.conv.weight"].sizes().vec(), (std::vector<int64_t>{24, 12, 1}));
    QCOMPARE(p["query_0.weight"].sizes().vec(), (std::vector<int64_t>{32, 16}));
    QCOMPARE(p["query_1.weight"].sizes().vec(), (std::vector<int64_t>{32, 12}));
    QCOMPARE(p["key_0.weight"].sizes().vec(), (std::vector<int64_t>{32, 20}));
    QCOMPARE(p["key_1.bias"].sizes().vec(), (std::vector<int64_t>{32}));
    QCOMPARE(p.size(), size_t{4 + 2 * 2 + 2 * 2});
  }

  void threeLayerProjectorsRun() {
    kd::SemCkdLoss loss_fn(kStudentCnn, kTeacherCnn, 16, "ThreeLayerConv");
    QVERIFY(loss_fn->named_parameters().find("proj_1_0.conv2.weight") != nullptr);
    const std::vector<torch::Tensor> student = with_grad(random_features(kStudentCnn, 3));
    loss_fn->to(torch::kDouble);
    const torch::Tensor loss = loss_fn->forward(student, random_features(kTeacherCnn, 3));
    QVERIFY(std::isfinite(loss.item<double>()) && loss.item<double>() > 0);
    loss.backward();
    for (const auto& s : student) QVERIFY(s.grad().defined());
  }

  void attentionRowsSumToOne() {
    kd::SemCkdLoss loss_fn(kStudentCnn, kTeacherCnn, 16);
    loss_fn->to(torch::kDouble);
    torch::Tensor attention;
    loss_fn->forward(random_features(kStudentCnn, 7), random_features(kTeacherCnn, 7), &attention);
    QCOMPARE(attention.sizes().vec(), (std::vector<int64_t>{7, 2, 3}));
    QVERIFY(attention.min().item<double>() > 0);
    QVERIFY(torch::allclose(attention.sum(2), torch::ones({7, 2}, torch::kDouble), 0, 1e-12));
    // Not uniform: the weights do depend on the sample and the layer.
    QVERIFY(attention.std().item<double>() > 1e-4);
  }

  void semCkdWithOneTeacherLayerIsTheMeanPairLoss() {
    const Shapes teacher_shape = {{10, 4, 4}};
    kd::SemCkdLoss sem(kStudentCnn, teacher_shape, 16);
    sem->to(torch::kDouble);
    const std::vector<torch::Tensor> student = random_features(kStudentCnn, 4);
    const std::vector<torch::Tensor> teacher = random_features(teacher_shape, 4);
    torch::Tensor attention;
    const double loss = sem->forward(student, teacher, &attention).item<double>();
    QVERIFY(torch::equal(attention, torch::ones({4, 2, 1}, torch::kDouble)));
    // By hand: mean over student layers of mean((W_i0 * align(s_i) - align(t_0))^2).
    const auto params = sem->named_parameters();
    double expected = 0;
    for (size_t i = 0; i < 2; ++i) {
      const kd::AlignedFeatures pair = kd::align_features(student[i], teacher[0]);
      const torch::Tensor w = params["proj_" + std::to_string(i) + "_0.conv.weight"];
      expected += (torch::conv2d(pair.student, w) - pair.teacher).pow(2).mean().item<double>() / 2;
    }
    QVERIFY2(std::abs(loss - expected) <= 1e-12 * expected,
             (std::to_string(loss) + " vs " + std::to_string(expected)).c_str());
  }

  void semCkdLossIsTheMeanOfPerSampleLosses() {
    // The attention is per sample and needs no batch statistics, so a batch's loss is the mean
    // of the losses of its samples taken one at a time.
    kd::SemCkdLoss loss_fn(kStudentCnn, kTeacherCnn, 16);
    loss_fn->to(torch::kDouble);
    const std::vector<torch::Tensor> student = random_features(kStudentCnn, 3);
    const std::vector<torch::Tensor> teacher = random_features(kTeacherCnn, 3);
    torch::Tensor attention;
    const double batch_loss = loss_fn->forward(student, teacher, &attention).item<double>();
    double sum = 0;
    for (int64_t b = 0; b < 3; ++b) {
      std::vector<torch::Tensor> s, t;
      for (const auto& f : student) s.push_back(f.slice(0, b, b + 1));
      for (const auto& f : teacher) t.push_back(f.slice(0, b, b + 1));
      torch::Tensor one;
      sum += loss_fn->forward(s, t, &one).item<double>();
      QVERIFY(torch::allclose(one[0], attention[b], 0, 1e-12));
    }
    QVERIFY(std::abs(batch_loss - sum / 3) <= 1e-12 * batch_loss);
  }

  void allPairsByHandOnOneByOneShapes() {
    // One student layer (1, 1, 1); teacher layers (1, 1, 1) and the flat (1). Projector weights
    // 2 and -1. s = (1, 2), t0 = (3, 1), t1 = (0, 4) over a batch of two:
    // pair 0: 2s - t0 = (-1, 3) -> mean square 5; pair 1: -s - t1 = (-1, -6) -> 18.5;
    // loss = (5 + 18.5) / 2 teacher layers = 11.75.
    kd::AllPairsFeatureLoss loss_fn(Shapes{{1, 1, 1}}, Shapes{{1, 1, 1}, {1}});
    loss_fn->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      auto p = loss_fn->named_parameters();
      p["proj_0_0.conv.weight"].fill_(2.0);
      p["proj_0_1.conv.weight"].fill_(-1.0);
    }
    const auto opts = torch::TensorOptions().dtype(torch::kDouble);
    const torch::Tensor s = torch::tensor({1.0, 2.0}, opts).reshape({2, 1, 1, 1}).requires_grad_();
    const torch::Tensor t0 = torch::tensor({3.0, 1.0}, opts).reshape({2, 1, 1, 1});
    const torch::Tensor t1 = torch::tensor({0.0, 4.0}, opts).reshape({2, 1});
    const torch::Tensor loss = loss_fn->forward({s}, {t0, t1});
    QCOMPARE(loss.item<double>(), 11.75);
    loss.backward();
    // d/ds_b = [2 * 2 * (2s - t0)_b + 2 * (-1) * (-s - t1)_b] / 2 (batch) / 2 (teacher layers)
    // = ((-4 + 2) / 4, (12 + 12) / 4) = (-0.5, 6)
    QVERIFY(torch::allclose(s.grad().flatten(), torch::tensor({-0.5, 6.0}, opts), 0, 1e-12));
  }

  void allPairsOfOneTokenPairIsThePairLoss() {
    // ViT tokens against ViT tokens: the same as align_features + feature_pair_loss.
    kd::AllPairsFeatureLoss loss_fn(Shapes{{5, 6}}, Shapes{{9, 4}});
    loss_fn->to(torch::kDouble);
    const torch::Tensor s = torch::randn({2, 5, 6}, torch::kDouble);
    const torch::Tensor t = torch::randn({2, 9, 4}, torch::kDouble);
    const kd::AlignedFeatures pair = kd::align_features(s, t);
    const torch::Tensor w = loss_fn->named_parameters()["proj_0_0.conv.weight"];
    QCOMPARE(w.sizes().vec(), (std::vector<int64_t>{4, 6, 1}));
    const double expected =
        kd::feature_pair_loss(torch::conv1d(pair.student, w), pair.teacher).item<double>();
    QVERIFY(std::abs(loss_fn->forward({s}, {t}).item<double>() - expected) <= 1e-12 * expected);
  }

  void gradientsReachStudentAndAllParameters() {
    kd::SemCkdLoss loss_fn(kStudentCnn, kTeacherCnn, 16);
    loss_fn->to(torch::kDouble);
    const std::vector<torch::Tensor> student = with_grad(random_features(kStudentCnn, 4));
    const std::vector<torch::Tensor> teacher = random_features(kTeacherCnn, 4);  // frozen
    loss_fn->forward(student, teacher).backward();
    for (const auto& s : student)
      QVERIFY(s.grad().defined() && s.grad().abs().sum().item<double>() > 0);
    for (const auto& p : loss_fn->named_parameters()) {
      QVERIFY2(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0,
               p.key().c_str());
    }
    // Teacher features are not detached inside: one that requires grad receives it (callers
    // pass detached teacher features).
    const std::vector<torch::Tensor> teacher_grad = with_grad(teacher);
    loss_fn->forward(student, teacher_grad).backward();
    QVERIFY(teacher_grad[0].grad().defined());
  }

  void badInputsGiveClearErrors() {
    kd::AllPairsFeatureLoss all(kStudentCnn, kTeacherCnn);
    kd::SemCkdLoss sem(kStudentCnn, kTeacherCnn, 16);
    const std::vector<torch::Tensor> s = random_features(kStudentCnn, 2);
    const std::vector<torch::Tensor> t = random_features(kTeacherCnn, 2);
    all->to(torch::kDouble);
    sem->to(torch::kDouble);

    std::string e = error_of([&] { all->forward(s, {t[0], t[1]}); });
    QVERIFY2(contains(e, "expected 3 teacher features, got 2"), e.c_str());
    e = error_of([&] { sem->forward({s[0]}, t); });
    QVERIFY2(contains(e, "SemCKD") && contains(e, "expected 2 student features, got 1"), e.c_str());

    e = error_of([&] { all->forward({s[0], torch::zeros({2, 8, 5, 5}, torch::kDouble)}, t); });
    QVERIFY2(
        contains(e, "student feature 1") && contains(e, "[2, 8, 5, 5]") && contains(e, "[8, 4, 4]"),
        e.c_str());
    e = error_of([&] { sem->forward(s, {t[0], t[1], torch::zeros({2, 12, 2}, torch::kDouble)}); });
    QVERIFY2(contains(e, "teacher feature 2") && contains(e, "[2, 12, 2]"), e.c_str());

    const std::vector<torch::Tensor> t_bad_batch = {t[0], t[1],
                                                    random_features(Shapes{{12, 2, 2}}, 3)[0]};
    e = error_of([&] { sem->forward(s, t_bad_batch); });
    QVERIFY2(contains(e, "teacher feature 2 has batch size 3"), e.c_str());
    e = error_of([&] { all->forward(s, random_features(kTeacherCnn, 4)); });
    QVERIFY2(contains(e, "batch size 2") && contains(e, "4"), e.c_str());
    e = error_of([&] { all->forward({s[0], torch::Tensor()}, t); });
    QVERIFY2(contains(e, "student feature 1"), e.c_str());
  }

  void badConstructionGivesClearErrors() {
    std::string e = error_of([] { kd::AllPairsFeatureLoss(Shapes{}, Shapes{{4, 2, 2}}); });
    QVERIFY2(contains(e, "no student layers"), e.c_str());
    e = error_of([] { kd::SemCkdLoss(Shapes{{4, 2, 2}}, Shapes{}); });
    QVERIFY2(contains(e, "no teacher layers"), e.c_str());
    e = error_of([] {
      kd::AllPairsFeatureLoss(Shapes{{4, 2, 2}}, Shapes{{4, 2, 2}, {1, 4, 2, 2}});
    });
    QVERIFY2(contains(e, "teacher layer 1") && contains(e, "[1, 4, 2, 2]"), e.c_str());
    e = error_of([] { kd::AllPairsFeatureLoss(Shapes{{4, 0, 2}}, Shapes{{4, 2, 2}}); });
    QVERIFY2(contains(e, "student layer 0") && contains(e, "positive"), e.c_str());
    e = error_of([] { kd::SemCkdLoss(Shapes{{4, 2, 2}, {5, 6}}, Shapes{{4, 2, 2}}); });
    QVERIFY2(contains(e, "student layer 1 [5, 6]") && contains(e, "teacher layer 0") &&
                 contains(e, "ViT"),
             e.c_str());
    e = error_of([] { kd::SemCkdLoss(Shapes{{4, 2, 2}}, Shapes{{4, 2, 2}}, 0); });
    QVERIFY2(contains(e, "embedding size"), e.c_str());
    e = error_of([] {
      kd::AllPairsFeatureLoss(Shapes{{4, 2, 2}}, Shapes{{4, 2, 2}}, "FourLayerConv");
    });
    QVERIFY2(contains(e, "FourLayerConv"), e.c_str());
  }
};

QTEST_APPLESS_MAIN(TestMultiLayerLosses)
#include "test_multi_layer_losses.moc"
