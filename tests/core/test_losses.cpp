// Distillation losses and projectors (core/distill/losses.h, projector.h). Values and gradients
// are compared with PyTorch's, computed once by scripts/reference_losses.py into
// tests/fixtures/losses_reference.safetensors; the rest are hand checks.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <map>
#include <string>

#include "common/error.h"
#include "distill/losses.h"
#include "distill/projector.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace {

using kdtest::error_of;

/// Relative tolerance of the reference comparisons (computed in float64 on both sides).
constexpr double kRelTol = 1e-5;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::map<std::string, torch::Tensor>& reference() {
  static const std::map<std::string, torch::Tensor> tensors = [] {
    std::map<std::string, torch::Tensor> m;
    for (auto& [name, t] :
         kd::read_safetensors(kdtest::fixture("losses_reference.safetensors")).tensors) {
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

/// True when max|actual - expected| <= kRelTol * max(max|expected|, 1e-12) and shapes match.
bool close(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) return false;
  const double scale = std::max(expected.abs().max().item<double>(), 1e-12);
  return (actual.to(torch::kDouble) - expected).abs().max().item<double>() <= kRelTol * scale;
}

std::string describe(const torch::Tensor& actual, const torch::Tensor& expected) {
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

}  // namespace

class TestLosses : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { torch::manual_seed(7); }

  void standardizeMatchesPyTorch() {
    EXPECT_CLOSE(kd::standardize_logits(fixture_tensor("logits/student")),
                 fixture_tensor("logits/standardized_student"));
  }

  void standardizeHasZeroMeanUnitUnbiasedStd() {
    const torch::Tensor z =
        kd::standardize_logits(torch::tensor({{1.0, 2.0, 3.0}}, torch::kDouble));
    // mean 2, unbiased std 1: (z - 2) / (1 + 1e-6)
    EXPECT_CLOSE(z, torch::tensor({{-1.0, 0.0, 1.0}}, torch::kDouble) / (1 + kd::kStandardizeEps));
  }

  void kdLossMatchesPyTorch_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("standardize");
    QTest::newRow("plain") << "kd" << false;
    QTest::newRow("standardized") << "kd_std" << true;
  }
  void kdLossMatchesPyTorch() {
    QFETCH(QString, name);
    QFETCH(bool, standardize);
    const std::string base = name.toStdString();
    const torch::Tensor zs = fixture_tensor("logits/student").clone().requires_grad_();
    const torch::Tensor loss = kd::kd_loss(zs, fixture_tensor("logits/teacher"), 4.0, standardize);
    loss.backward();
    EXPECT_CLOSE(loss.reshape({1}), fixture_tensor(base + "/loss"));
    EXPECT_CLOSE(zs.grad(), fixture_tensor(base + "/grad_student"));
  }

  void kdLossOfIdenticalLogitsIsZero() {
    const torch::Tensor z = torch::randn({5, 7}, torch::kDouble) * 3;
    QVERIFY(std::abs(kd::kd_loss(z, z).item<double>()) < 1e-12);
    QVERIFY(std::abs(kd::kd_loss(z, z, 2.0, true).item<double>()) < 1e-12);
    // Standardization removes shift and scale, so a shifted, scaled teacher gives ~0 as well.
    QVERIFY(std::abs(kd::kd_loss(z, 3 * z + 1, 4.0, true).item<double>()) < 1e-9);
    QVERIFY(kd::kd_loss(z, 3 * z + 1).item<double>() > 1e-3);
  }

  void kdLossWorksInFloat32() {
    const torch::Tensor loss = kd::kd_loss(fixture_tensor("logits/student").to(torch::kFloat),
                                           fixture_tensor("logits/teacher").to(torch::kFloat));
    QCOMPARE(loss.scalar_type(), torch::kFloat);
    QVERIFY(std::abs(loss.item<double>() - fixture_tensor("kd/loss").item<double>()) <
            1e-4 * fixture_tensor("kd/loss").item<double>());
  }

  void kdLossRejectsBadShapes() {
    const std::string e = error_of([] {
      kd::kd_loss(torch::zeros({4, 10}), torch::zeros({4, 12}));
    });
    QVERIFY2(contains(e, "[4, 10]") && contains(e, "[4, 12]"), e.c_str());
    QVERIFY(
        contains(error_of([] { kd::kd_loss(torch::zeros({4}), torch::zeros({4})); }), "logits"));
    QVERIFY(contains(error_of([] {
                       kd::kd_loss(torch::zeros({2, 3}), torch::zeros({2, 3}), 0.0);
                     }),
                     "temperature"));
  }

  void featureLossMatchesPyTorch_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("is1d");
    QTest::addColumn<QList<int>>("alignedStudent");  // student shape after align_features
    QTest::newRow("student larger") << "student_larger" << false << QList<int>{4, 8, 3, 3};
    QTest::newRow("teacher larger") << "teacher_larger" << false << QList<int>{4, 8, 3, 3};
    QTest::newRow("equal") << "equal" << false << QList<int>{4, 8, 4, 4};
    QTest::newRow("uneven 7x7 vs 5x5") << "uneven" << false << QList<int>{4, 8, 5, 5};
    QTest::newRow("2-D") << "flat" << false << QList<int>{4, 8, 1, 1};
    QTest::newRow("2-D vs map") << "flat_vs_map" << false << QList<int>{4, 8, 1, 1};
    QTest::newRow("ViT tokens") << "vit" << true << QList<int>{4, 12, 17};
  }
  void featureLossMatchesPyTorch() {
    QFETCH(QString, name);
    QFETCH(bool, is1d);
    QFETCH(QList<int>, alignedStudent);
    const std::string base = "feat/" + name.toStdString() + "/";
    const torch::Tensor weight = fixture_tensor(base + "weight");
    auto projector =
        kd::SingleLayerConv(kd::ProjectorOptions(weight.size(1), weight.size(0)).is_1d(is1d));
    projector->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      projector->named_parameters()["conv.weight"].copy_(weight);
    }
    const torch::Tensor s = fixture_tensor(base + "student").clone().requires_grad_();
    const kd::AlignedFeatures pair = kd::align_features(s, fixture_tensor(base + "teacher"));
    const std::vector<int64_t> expected(alignedStudent.begin(), alignedStudent.end());
    QCOMPARE(pair.student.sizes().vec(), expected);
    const torch::Tensor loss =
        kd::feature_pair_loss(projector->forward(pair.student), pair.teacher);
    loss.backward();
    EXPECT_CLOSE(loss.reshape({1}), fixture_tensor(base + "loss"));
    EXPECT_CLOSE(s.grad(), fixture_tensor(base + "grad_student"));
    EXPECT_CLOSE(projector->named_parameters()["conv.weight"].grad(),
                 fixture_tensor(base + "grad_weight"));
  }

  void alignPoolsOnlyTheLargerMap() {
    const torch::Tensor small = torch::randn({2, 3, 2, 2}), large = torch::randn({2, 5, 4, 4});
    const kd::AlignedFeatures a = kd::align_features(small, large);
    QVERIFY(a.student.is_same(small));  // the smaller side is passed through untouched
    QVERIFY(torch::allclose(a.teacher, torch::avg_pool2d(large, 2)));
    const kd::AlignedFeatures b = kd::align_features(large, small);
    QVERIFY(b.teacher.is_same(small));
    QVERIFY(torch::allclose(b.student, torch::avg_pool2d(large, 2)));
  }

  void featureLossOfEqualTensorsIsZero() {
    const torch::Tensor t = torch::randn({3, 4, 5, 5});
    QCOMPARE(kd::feature_pair_loss(t, t.clone()).item<double>(), 0.0);
    // (1 - 0)^2 on half of the elements
    const torch::Tensor half = torch::cat({torch::ones({1, 2}), torch::zeros({1, 2})}, 1);
    QCOMPARE(kd::feature_pair_loss(half, torch::zeros({1, 4})).item<double>(), 0.5);
  }

  void mismatchedShapesGiveClearErrors() {
    std::string e = error_of([] {
      kd::feature_pair_loss(torch::zeros({4, 16, 3, 3}), torch::zeros({4, 8, 3, 3}));
    });
    QVERIFY2(contains(e, "[4, 16, 3, 3]") && contains(e, "[4, 8, 3, 3]"), e.c_str());
    e = error_of([] {
      kd::align_features(torch::zeros({4, 8, 3, 3}), torch::zeros({2, 8, 3, 3}));
    });
    QVERIFY2(contains(e, "batch") && contains(e, "[2, 8, 3, 3]"), e.c_str());
    e = error_of([] { kd::align_features(torch::zeros({4, 17, 12}), torch::zeros({4, 8, 3, 3})); });
    QVERIFY2(contains(e, "ViT") && contains(e, "[4, 17, 12]"), e.c_str());
    e = error_of([] { kd::align_features(torch::zeros({4}), torch::zeros({4, 8})); });
    QVERIFY2(contains(e, "features must be"), e.c_str());
    e = error_of([] {
      kd::similarity_preserving_loss(torch::zeros({4, 8}), torch::zeros({3, 8}));
    });
    QVERIFY2(contains(e, "[3, 8]"), e.c_str());
  }

  void similarityPreservingMatchesPyTorch_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("maps") << "maps";
    QTest::newRow("ViT tokens") << "vit";
  }
  void similarityPreservingMatchesPyTorch() {
    QFETCH(QString, name);
    const std::string base = "sp/" + name.toStdString() + "/";
    const torch::Tensor s = fixture_tensor(base + "student").clone().requires_grad_();
    const torch::Tensor loss = kd::similarity_preserving_loss(s, fixture_tensor(base + "teacher"));
    loss.backward();
    EXPECT_CLOSE(loss.reshape({1}), fixture_tensor(base + "loss"));
    EXPECT_CLOSE(s.grad(), fixture_tensor(base + "grad_student"));
  }

  void similarityPreservingUsesAllRows() {
    // Student and teacher Grams that agree on row 0 but not elsewhere: a loss on one row
    // (the authors' code) would be 0 here.
    const torch::Tensor fs = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 1.0}}, torch::kDouble);
    const torch::Tensor ft = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}}, torch::kDouble);
    // Row-normalized Grams differ only at (1,2) and (2,1) by 1/sqrt(2) - (-1/sqrt(2)) = sqrt(2).
    QVERIFY(std::abs(kd::similarity_preserving_loss(fs, ft).item<double>() - 4.0 / 9.0) < 1e-12);
    QCOMPARE(kd::similarity_preserving_loss(fs, fs * 2).item<double>(), 0.0);
  }

  void projectorShapes_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<bool>("is1d");
    QTest::newRow("single 2-D") << "SingleLayerConv" << false;
    QTest::newRow("single 1-D") << "SingleLayerConv" << true;
    QTest::newRow("three 2-D") << "ThreeLayerConv" << false;
    QTest::newRow("three 1-D") << "ThreeLayerConv" << true;
  }
  void projectorShapes() {
    QFETCH(QString, kind);
    QFETCH(bool, is1d);
    torch::nn::AnyModule p = kd::make_projector(kind.toStdString(), 6, 10, is1d);
    const torch::Tensor x = is1d ? torch::randn({3, 6, 9}) : torch::randn({3, 6, 5, 7});
    const torch::Tensor y = p.forward(x);
    const std::vector<int64_t> expected =
        is1d ? std::vector<int64_t>{3, 10, 9} : std::vector<int64_t>{3, 10, 5, 7};
    QCOMPARE(y.sizes().vec(), expected);
    y.sum().backward();
    for (const auto& param : p.ptr()->parameters()) QVERIFY(param.grad().defined());
  }

  void projectorParameterNames() {
    const auto single =
        kd::make_projector("SingleLayerConv", 6, 10, false).ptr()->named_parameters();
    QCOMPARE(single.size(), size_t{1});
    QCOMPARE(single["conv.weight"].sizes().vec(), (std::vector<int64_t>{10, 6, 1, 1}));
    const auto three = kd::make_projector("ThreeLayerConv", 6, 10, true).ptr()->named_parameters();
    QCOMPARE(three["conv1.weight"].sizes().vec(), (std::vector<int64_t>{20, 6, 1}));
    QCOMPARE(three["conv2.weight"].sizes().vec(), (std::vector<int64_t>{20, 20, 3}));
    QCOMPARE(three["conv3.weight"].sizes().vec(), (std::vector<int64_t>{10, 20, 1}));
    QCOMPARE(three["bn1.weight"].sizes().vec(), (std::vector<int64_t>{20}));
    QVERIFY(three.find("bn2.bias") != nullptr);
    QVERIFY(three.find("conv1.bias") == nullptr);  // convolutions are bias-free
  }

  void projectorRejectsBadInput() {
    QVERIFY(contains(error_of([] { kd::make_projector("FourLayerConv", 6, 10, false); }),
                     "FourLayerConv"));
    QVERIFY(contains(error_of([] { kd::make_projector("SingleLayerConv", 0, 10, false); }),
                     "positive"));
  }
};

QTEST_APPLESS_MAIN(TestLosses)
#include "test_losses.moc"
