// Latent-geometry views (core/analysis/geometry.h): PCA, t-SNE, TwoNN, PCA-ID, numerical rank,
// nearest-class-center accuracy and linear CKA. Reference values are hand-derived, follow from
// a construction with a known answer, or come from scripts/reference_geometry.py (numpy).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <cmath>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "analysis/geometry.h"
#include "analysis/tsne.h"
#include "common/error.h"
#include "test_util.h"

namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kDouble);

using kdtest::error_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

nlohmann::json reference() {
  std::ifstream f(kdtest::fixture("geometry_reference.json"));
  return nlohmann::json::parse(f);
}

torch::Tensor matrix(const nlohmann::json& rows) {
  const auto n = static_cast<int64_t>(rows.size()), d = static_cast<int64_t>(rows[0].size());
  torch::Tensor t = torch::empty({n, d}, kF64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) t[i][j] = rows[i][j].get<double>();
  }
  return t;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Orthonormal (rows x cols) columns; with centered = true they are also orthogonal to 1, so
/// A diag(s) B^T is column-centered and its PCA is known exactly.
torch::Tensor orthonormal(int64_t rows, int64_t cols, bool centered) {
  torch::Tensor m = torch::randn({rows, cols + (centered ? 1 : 0)}, kF64);
  if (centered) m.select(1, 0).fill_(1);
  const torch::Tensor q = std::get<0>(torch::linalg_qr(m, "reduced"));
  return centered ? q.slice(1, 1) : q;
}

/// Labels 0, 1, ..., classes-1, 0, 1, ... for n samples.
torch::Tensor cyclic_labels(int64_t n, int64_t classes) {
  return torch::arange(n, torch::kLong).remainder(classes);
}

/// Three Gaussian clusters (unit noise) in 10-D, centers 12 apart, labels in blocks.
std::pair<torch::Tensor, torch::Tensor> three_clusters(int64_t per_class, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor x = torch::randn({3 * per_class, 10});
  torch::Tensor labels = torch::arange(3 * per_class, torch::kLong).div(per_class, "floor");
  for (int c = 1; c < 3; ++c) x.slice(0, c * per_class, (c + 1) * per_class).select(1, c) += 12;
  return {x, labels};
}

/// Records progress and asks to stop once a fraction reaches cancel_at.
class RecordingSink : public kd::ProgressSink {
 public:
  explicit RecordingSink(double cancel_at = 2) : cancel_at_(cancel_at) {}
  void progress(double fraction, const std::string&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    fractions.push_back(fraction);
    if (stop_) ++after_stop;
    if (fraction >= cancel_at_) stop_ = true;
  }
  bool cancelled() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stop_;
  }
  std::vector<double> fractions;
  int after_stop = 0;

 private:
  double cancel_at_;
  bool stop_ = false;
  mutable std::mutex mutex_;
};

/// KL(P || Q) of an embedding y (n x dims), Q the Student-t similarities (the t-SNE cost).
double kl_divergence(const std::vector<double>& p, const std::vector<double>& y, int dims) {
  const auto n = static_cast<int64_t>(y.size()) / dims;
  std::vector<double> w(p.size(), 0.0);
  double z = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double d2 = 0;
      for (int d = 0; d < dims; ++d) d2 += std::pow(y[i * dims + d] - y[j * dims + d], 2);
      w[i * n + j] = 1 / (1 + d2);
      z += w[i * n + j];
    }
  }
  double kl = 0;
  for (size_t e = 0; e < p.size(); ++e) {
    if (p[e] > 0) kl += p[e] * std::log(p[e] / (w[e] / z));
  }
  return kl;
}

/// Every point is nearer its own cluster's center than any other one.
bool separated(const kd::Projection& p) {
  const torch::Tensor d = torch::cdist(p.coords, p.centers);
  return torch::equal(d.argmin(1), p.labels);
}

}  // namespace

class TestGeometry : public QObject {
  Q_OBJECT

 private slots:
  void pcaReproducesKnownComponents_data() {
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("d");
    QTest::addColumn<int>("dims");
    QTest::newRow("covariance route (D < N), 2-D") << 60 << 10 << 2;
    QTest::newRow("Gram route (D > N), 2-D") << 40 << 300 << 2;
    QTest::newRow("Gram route (D > N), 3-D") << 30 << 80 << 3;
  }
  void pcaReproducesKnownComponents() {
    QFETCH(int, n);
    QFETCH(int, d);
    QFETCH(int, dims);
    torch::manual_seed(7);
    const torch::Tensor a = orthonormal(n, 4, true), b = orthonormal(d, 4, false);
    const torch::Tensor s = torch::tensor({6.0, 3.0, 2.0, 1.0}, kF64);
    const torch::Tensor offset = torch::randn({1, d}, kF64) * 10;  // PCA must remove the mean
    const torch::Tensor features = ((a * s).mm(b.t()) + offset).to(torch::kFloat);
    const kd::Projection p = kd::pca_projection(features, cyclic_labels(n, 3), 3, dims);
    QCOMPARE(p.coords.sizes().vec(), (std::vector<int64_t>{n, dims}));
    QCOMPARE(p.coords.scalar_type(), torch::kFloat);
    for (int k = 0; k < dims; ++k) {
      const torch::Tensor loading = b.select(1, k);
      const double sign = loading[loading.abs().argmax()].item<double>() > 0 ? 1 : -1;
      const torch::Tensor expected = a.select(1, k) * s[k] * sign;
      QVERIFY2(max_abs_diff(p.coords.select(1, k), expected) < 1e-4,
               qPrintable(QString::number(k)));
      QVERIFY(std::abs(p.explained_variance_ratio[k] - std::pow(s[k].item<double>(), 2) / 50) <
              1e-6);
    }
    QCOMPARE(static_cast<int>(p.explained_variance_ratio.size()), dims);
  }

  void pcaMatchesNumpy_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("tall") << "pca";
    QTest::newRow("wide (Gram route)") << "pca_wide";
  }
  void pcaMatchesNumpy() {
    QFETCH(QString, name);
    const nlohmann::json ref = reference()[name.toStdString()];
    const torch::Tensor x = matrix(ref["x"]);
    const kd::Projection p = kd::pca_projection(x, torch::zeros({x.size(0)}, torch::kLong), 1);
    QVERIFY(max_abs_diff(p.coords, matrix(ref["coords"])) < 1e-5);
    for (int k = 0; k < 2; ++k) {
      QVERIFY(std::abs(p.explained_variance_ratio[k] - ref["ratio"][k].get<double>()) < 1e-12);
    }
  }

  void pcaClassCentersAreMeanCoords() {
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn({50, 8});
    const torch::Tensor labels = cyclic_labels(50, 4);  // class 4 of 5 stays empty
    const kd::Projection p = kd::pca_projection(x, labels, 5, 3);
    QCOMPARE(p.centers.sizes().vec(), (std::vector<int64_t>{5, 3}));
    for (int c = 0; c < 4; ++c) {
      const torch::Tensor mean = p.coords.index({labels == c}).mean(0);
      QVERIFY(max_abs_diff(p.centers[c], mean) < 1e-6);
    }
    QVERIFY(max_abs_diff(p.centers[4], torch::zeros({3})) == 0);
    QVERIFY(torch::equal(p.labels, labels));
  }

  void pcaRejectsBadInput() {
    const torch::Tensor x = torch::randn({10, 4});
    QVERIFY(contains(error_of([&] { kd::pca_projection(x, cyclic_labels(10, 3), 2); }),
                     "label 2 is out of range for 2 classes"));
    QVERIFY(contains(error_of([&] { kd::pca_projection(x, cyclic_labels(9, 2), 2); }),
                     "expected 10 labels"));
    QVERIFY(
        contains(error_of([&] { kd::pca_projection(torch::randn({10}), cyclic_labels(10, 2), 2); }),
                 "expected a 2-D"));
    torch::Tensor bad = x.clone();
    bad[3][1] = std::nan("");
    QVERIFY(contains(error_of([&] { kd::pca_projection(bad, cyclic_labels(10, 2), 2); }), "NaN"));
    QVERIFY(contains(error_of([&] { kd::pca_projection(x, cyclic_labels(10, 2), 2, 4); }),
                     "dims must be 2 or 3"));
  }

  void twonnHandExample() {
    // Points 0, 1, 3, 7, 15 on a line: mu = 3, 2, 1.5, 1.5, 1.5 -> d = 5 / sum ln mu.
    const torch::Tensor x = torch::tensor({0.0, 1.0, 3.0, 7.0, 15.0}).unsqueeze(1);
    const double expected = 5 / (std::log(3.0) + std::log(2.0) + 3 * std::log(1.5));
    QVERIFY(std::abs(kd::twonn_dimension(x) - expected) < 1e-9);
    // Duplicates of 15 (one exact, one off by float32 rounding) are removed before the estimate.
    const torch::Tensor dup =
        torch::tensor({0.0, 1.0, 3.0, 15.0, 7.0, 15.0, 15.0 + 1e-6, 3.0}).unsqueeze(1);
    QVERIFY(std::abs(kd::twonn_dimension(dup) - expected) < 1e-9);
  }

  void twonnMatchesNumpy() {
    const nlohmann::json ref = reference()["twonn"];
    QVERIFY(std::abs(kd::twonn_dimension(matrix(ref["x"])) - ref["value"].get<double>()) < 1e-9);
  }

  void twonnFindsPlaneAndBall() {
    torch::manual_seed(11);
    const int64_t n = 2000;
    const torch::Tensor rotation = orthonormal(20, 20, false).to(torch::kFloat);
    torch::Tensor plane = torch::zeros({n, 20});
    plane.slice(1, 0, 2).copy_(torch::rand({n, 2}) * 4);
    torch::Tensor ball = torch::zeros({n, 20});
    const torch::Tensor dirs = torch::randn({n, 3});
    const torch::Tensor radii = torch::rand({n, 1}).pow(1.0 / 3);  // uniform in the ball
    ball.slice(1, 0, 3).copy_(dirs / dirs.norm(2, 1, true) * radii + 5);
    const double d2 = kd::twonn_dimension(plane.mm(rotation));
    const double d3 = kd::twonn_dimension(ball.mm(rotation));
    QVERIFY2(std::abs(d2 - 2) < 0.3, qPrintable(QString::number(d2)));
    QVERIFY2(std::abs(d3 - 3) < 0.3, qPrintable(QString::number(d3)));
    // 100 near-duplicates (as two passes of a network give) are removed: the estimate is unchanged.
    const torch::Tensor rotated = plane.mm(rotation);
    const torch::Tensor near = rotated.slice(0, 0, 100) + 1e-7 * torch::randn({100, 20});
    const double with_dups = kd::twonn_dimension(torch::cat({near, rotated}));
    QVERIFY2(std::abs(with_dups - d2) < 1e-5,
             qPrintable(QString("%1 vs %2").arg(with_dups).arg(d2)));
  }

  void twonnNeedsThreeDistinctSamples() {
    QVERIFY(contains(error_of([] {
                       kd::twonn_dimension(torch::randn({2, 5}));
                     }),
                     "TwoNN needs at least 3 samples"));
    QVERIFY(contains(error_of([] {
                       kd::twonn_dimension(torch::ones({6, 5}));
                     }),
                     "at least 3 distinct samples, got 1"));
  }

  void numericalRankOfEmbeddedRank3() {
    torch::manual_seed(5);
    const torch::Tensor tall = torch::randn({100, 3}).mm(torch::randn({3, 50})) + 2;
    QCOMPARE(kd::numerical_rank(tall), int64_t{3});
    const torch::Tensor wide = torch::randn({30, 3}).mm(torch::randn({3, 500})) - 1;
    QCOMPARE(kd::numerical_rank(wide), int64_t{3});
    QCOMPARE(kd::numerical_rank(torch::randn({30, 50})), int64_t{29});  // centering: N - 1
    QCOMPARE(kd::numerical_rank(torch::randn({80, 20})), int64_t{20});
    QCOMPARE(kd::numerical_rank(torch::ones({10, 4})), int64_t{0});
  }

  void pcaIntrinsicDimensionOfKnownSpectrum_data() {
    QTest::addColumn<double>("threshold");
    QTest::addColumn<int>("expected");
    // Variances 50, 30, 11, 5, 4 (of 100): cumulative 0.50, 0.80, 0.91, 0.96, 1.00.
    QTest::newRow("0.9") << 0.9 << 3;
    QTest::newRow("0.45") << 0.45 << 1;
    QTest::newRow("0.95") << 0.95 << 4;
    QTest::newRow("0.97") << 0.97 << 5;
    QTest::newRow("1.0 (rounding allowed)") << 1.0 << 5;
  }
  void pcaIntrinsicDimensionOfKnownSpectrum() {
    QFETCH(double, threshold);
    QFETCH(int, expected);
    for (const int64_t d : {40, 400}) {  // covariance and Gram routes
      torch::manual_seed(9);
      const torch::Tensor s = torch::tensor({50.0, 30.0, 11.0, 5.0, 4.0}, kF64).sqrt();
      const torch::Tensor x = (orthonormal(100, 5, true) * s).mm(orthonormal(d, 5, false).t());
      QCOMPARE(kd::pca_intrinsic_dimension(x.to(torch::kFloat), threshold), int64_t{expected});
    }
  }

  void pcaIntrinsicDimensionRejectsThreshold() {
    QVERIFY(contains(error_of([] {
                       kd::pca_intrinsic_dimension(torch::randn({5, 3}), 1.5);
                     }),
                     "threshold must be in (0, 1]"));
  }

  void nccSeparatedClustersArePerfect() {
    const auto [x, labels] = three_clusters(30, 1);
    QCOMPARE(kd::ncc_accuracy(x, labels, 3), 1.0);
  }

  void nccHandExample() {
    // 1-D points, class 0: {0, 2}; class 1: {4, 7.5}; class 2: {20}; class 3 empty.
    //   0 -> own (leave-one-out) 2 at 2, class 1 mean 5.75 at 5.75 -> right
    //   2 -> own 0 at 2, class 1 at 3.75 -> right
    //   4 -> own 7.5 at 3.5, class 0 mean 1 at 3 -> wrong (without leave-one-out it is right)
    //   7.5 -> own 4 at 3.5, class 0 at 6.5 -> right
    //   20 -> own center undefined (one sample), class 1 at 14.25 -> wrong
    const torch::Tensor x = torch::tensor({0.0, 2.0, 4.0, 7.5, 20.0}).unsqueeze(1);
    const torch::Tensor labels = torch::tensor({0, 0, 1, 1, 2}, torch::kLong);
    QCOMPARE(kd::ncc_accuracy(x, labels, 4), 0.6);
    QCOMPARE(kd::ncc_accuracy(torch::cat({x, torch::zeros({5, 3})}, 1), labels, 4), 0.6);
  }

  void ckaInvariances() {
    torch::manual_seed(13);
    const torch::Tensor x = torch::randn({40, 12}, kF64);
    const torch::Tensor q = orthonormal(12, 12, false);
    for (const auto form : {kd::CkaForm::gram, kd::CkaForm::features}) {
      QVERIFY(std::abs(kd::linear_cka(x, x.mm(q), form) - 1) < 1e-12);
      QVERIFY(std::abs(kd::linear_cka(x, 3.7 * x + 2, form) - 1) < 1e-12);
    }
    QVERIFY(std::abs(kd::linear_cka(x.to(torch::kFloat), x.mm(q).to(torch::kFloat)) - 1) < 1e-6);
  }

  void ckaMatchesNumpy() {
    const nlohmann::json ref = reference()["cka"];
    const torch::Tensor x = matrix(ref["x"]), y = matrix(ref["y"]);
    const double expected = ref["value"].get<double>();
    QVERIFY(std::abs(kd::linear_cka(x, y, kd::CkaForm::gram) - expected) < 1e-12);
    QVERIFY(std::abs(kd::linear_cka(x, y, kd::CkaForm::features) - expected) < 1e-12);
    QVERIFY(std::abs(kd::linear_cka(y, x) - expected) < 1e-12);
  }

  void ckaGramFormEqualsFeatureForm() {
    torch::manual_seed(17);
    const torch::Tensor x = torch::randn({30, 20}, kF64), y = torch::randn({30, 50}, kF64) + 1;
    const torch::Tensor xc = x - x.mean(0), yc = y - y.mean(0);
    // The identity behind the Gram form: ||Y^T X||_F^2 = trace(K_X K_Y), K = Xc Xc^T.
    const double feature = yc.t().mm(xc).square().sum().item<double>();
    const double gram = xc.mm(xc.t()).mm(yc.mm(yc.t())).trace().item<double>();
    QVERIFY(std::abs(feature - gram) < 1e-9 * feature);
    const double a = kd::linear_cka(x, y, kd::CkaForm::gram);
    const double b = kd::linear_cka(x, y, kd::CkaForm::features);
    QVERIFY(std::abs(a - b) < 1e-12);
    QVERIFY(std::abs(kd::linear_cka(y, x) - a) < 1e-12);  // symmetric
    QVERIFY(a > 0 && a < 1);
  }

  void ckaStaysInUnitInterval() {
    torch::manual_seed(19);
    for (int trial = 0; trial < 5; ++trial) {
      const torch::Tensor x = torch::randn({20, 6}), y = torch::randn({20, 9}) * (trial + 1);
      const double v = kd::linear_cka(x, y);
      QVERIFY(v >= 0 && v <= 1);
    }
    QCOMPARE(kd::linear_cka(torch::ones({5, 3}), torch::randn({5, 3})), 0.0);
  }

  void ckaRejectsRowMismatch() {
    const std::string e = error_of([] {
      kd::linear_cka(torch::randn({10, 3}), torch::randn({12, 3}));
    });
    QVERIFY2(contains(e, "X has 10 rows but Y has 12"), e.c_str());
  }

  void tsneCalibratesPerplexity() {
    torch::manual_seed(23);
    const torch::Tensor d = torch::rand({200}, kF64) * 50 + 1000;  // far away: shift matters
    const std::vector<double> sq(d.data_ptr<double>(), d.data_ptr<double>() + 200);
    for (const double perplexity : {5.0, 30.0, 90.0}) {
      const std::vector<double> p = kd::tsne::calibrate_row(sq, perplexity);
      double sum = 0, entropy = 0;
      for (double v : p) {
        sum += v;
        if (v > 0) entropy -= v * std::log(v);
      }
      QVERIFY(std::abs(sum - 1) < 1e-12);
      QVERIFY2(std::abs(std::exp(entropy) - perplexity) < 1e-3 * perplexity,
               qPrintable(QString::number(std::exp(entropy))));
    }
  }

  void tsneExactGradientMatchesFiniteDifferences() {
    torch::manual_seed(53);
    const int64_t n = 12;
    for (const int dims : {2, 3}) {
      torch::Tensor p = torch::rand({n, n}, kF64);
      p = p + p.t();
      p.fill_diagonal_(0);
      p /= p.sum();
      const std::vector<double> dense(p.data_ptr<double>(), p.data_ptr<double>() + n * n);
      const torch::Tensor y0 = torch::randn({n, dims}, kF64);
      std::vector<double> y(y0.data_ptr<double>(), y0.data_ptr<double>() + n * dims);
      const std::vector<double> grad = kd::tsne::exact_gradient(dense, y, dims, 1);
      for (size_t k = 0; k < y.size(); ++k) {
        constexpr double kStep = 1e-6;
        const double saved = y[k];
        y[k] = saved + kStep;
        const double up = kl_divergence(dense, y, dims);
        y[k] = saved - kStep;
        const double down = kl_divergence(dense, y, dims);
        y[k] = saved;
        QVERIFY2(std::abs((up - down) / (2 * kStep) - grad[k]) < 1e-6,
                 qPrintable(QString("dims %1 k %2").arg(dims).arg(k)));
      }
    }
  }

  void tsneBarnesHutGradientApproximatesExact() {
    torch::manual_seed(29);
    const int64_t n = 80;
    torch::Tensor p = torch::rand({n, n}, kF64);
    p = p + p.t();
    p.fill_diagonal_(0);
    p /= p.sum();
    const torch::Tensor y = torch::randn({n, 2}, kF64) * 5;
    const std::vector<double> dense(p.data_ptr<double>(), p.data_ptr<double>() + n * n);
    const std::vector<double> yv(y.data_ptr<double>(), y.data_ptr<double>() + 2 * n);
    kd::tsne::SparseAffinities sparse;
    sparse.row_start.push_back(0);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        if (i == j) continue;
        sparse.col.push_back(j);
        sparse.p.push_back(dense[i * n + j]);
      }
      sparse.row_start.push_back(static_cast<int64_t>(sparse.col.size()));
    }
    const torch::Tensor exact = torch::tensor(kd::tsne::exact_gradient(dense, yv, 2, 12), kF64);
    const torch::Tensor bh0 = torch::tensor(kd::tsne::barnes_hut_gradient(sparse, yv, 0, 12), kF64);
    const torch::Tensor bh =
        torch::tensor(kd::tsne::barnes_hut_gradient(sparse, yv, 0.5, 12), kF64);
    const double scale = exact.abs().max().item<double>();
    QVERIFY(max_abs_diff(bh0, exact) < 1e-12 * scale);
    const double rel = (bh - exact).norm().item<double>() / exact.norm().item<double>();
    QVERIFY2(rel < 0.02 && rel > 0, qPrintable(QString::number(rel)));
  }

  void tsneExactSeparatesClusters() {
    const auto [x, labels] = three_clusters(50, 31);
    kd::TsneOptions o;
    o.theta = 0;
    o.perplexity = 20;
    const kd::Projection p = kd::tsne_projection(x, labels, 3, o);
    QCOMPARE(p.coords.sizes().vec(), (std::vector<int64_t>{150, 2}));
    QVERIFY(separated(p));
    QCOMPARE(kd::ncc_accuracy(p.coords, labels, 3), 1.0);
    o.dims = 3;
    const kd::Projection p3 = kd::tsne_projection(x, labels, 3, o);
    QCOMPARE(p3.coords.sizes().vec(), (std::vector<int64_t>{150, 3}));
    QVERIFY(separated(p3));
  }

  void tsneBarnesHutSeparatesClusters() {
    const auto [x, labels] = three_clusters(200, 37);
    RecordingSink sink;
    const kd::Projection p = kd::tsne_projection(x, labels, 3, {}, &sink);
    QVERIFY(separated(p));
    QCOMPARE(kd::ncc_accuracy(p.coords, labels, 3), 1.0);
    QVERIFY(sink.fractions.size() >= 1000 / 25);
    for (size_t k = 1; k < sink.fractions.size(); ++k) {
      QVERIFY(sink.fractions[k] > sink.fractions[k - 1]);
    }
    QCOMPARE(sink.fractions.back(), 1.0);
  }

  void tsneIsDeterministic() {
    const auto [x, labels] = three_clusters(60, 41);
    kd::TsneOptions o;
    o.iterations = 300;
    o.seed = 5;
    const torch::Tensor a = kd::tsne_projection(x, labels, 3, o).coords;
    const torch::Tensor b = kd::tsne_projection(x, labels, 3, o).coords;
    QVERIFY(torch::equal(a, b));
    // Per-point work in parallel, sums in a fixed order: the thread count does not matter.
    const int threads = at::get_num_threads();
    at::set_num_threads(threads == 1 ? 2 : 1);
    const torch::Tensor c = kd::tsne_projection(x, labels, 3, o).coords;
    at::set_num_threads(threads);
    QVERIFY(torch::equal(a, c));
    o.seed = 6;
    QVERIFY(!torch::equal(a, kd::tsne_projection(x, labels, 3, o).coords));
  }

  void tsneCancels() {
    const auto [x, labels] = three_clusters(60, 43);
    RecordingSink sink(0.3);
    bool cancelled = false;
    try {
      kd::tsne_projection(x, labels, 3, {}, &sink);
    } catch (const kd::Cancelled&) {
      cancelled = true;
    }
    QVERIFY(cancelled);
    QVERIFY(sink.fractions.back() >= 0.3 && sink.fractions.back() < 0.4);
    QCOMPARE(sink.after_stop, 0);  // stopped before the next report, i.e. within 25 iterations
    RecordingSink early(0);        // stops at the first report, while the distances are computed
    QVERIFY_EXCEPTION_THROWN(kd::tsne_projection(x, labels, 3, {}, &early), kd::Cancelled);
    QCOMPARE(early.fractions.size(), size_t{1});
    QVERIFY(early.fractions[0] <= 0.1);
  }

  void tsneRejectsBadOptions() {
    const auto [x, labels] = three_clusters(10, 47);
    kd::TsneOptions o;
    o.perplexity = 10;
    const std::string e = error_of([&] { kd::tsne_projection(x, labels, 3, o); });
    QVERIFY2(contains(e, "perplexity 10 is too large for 30 samples"), e.c_str());
    o.perplexity = 5;
    o.dims = 3;
    QVERIFY(contains(error_of([&] { kd::tsne_projection(x, labels, 3, o); }), "2-D only"));
    QVERIFY(
        contains(error_of([&] { kd::tsne_projection(x.slice(0, 0, 3), labels.slice(0, 0, 3), 3); }),
                 "t-SNE needs at least 4 samples"));
  }
};

QTEST_APPLESS_MAIN(TestGeometry)
#include "test_geometry.moc"
