// Knowledge quality Q (method.md section 2, conventions in docs/analysis.md): reference values
// from scripts/reference_knowledge_quality.py (a plain numpy implementation), a hand-computed
// case, blocking, permutation and scale invariance, edge cases, layer selection and errors.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>

#include "analysis/knowledge_quality.h"
#include "common/error.h"
#include "test_util.h"

namespace {

using nlohmann::json;

const json& reference() {
  static const json j = [] {
    std::ifstream f(kdtest::fixture("kq_reference.json"));
    return json::parse(f);
  }();
  return j;
}

const json& reference_case(const std::string& name) {
  for (const auto& c : reference()["cases"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("no reference case " + name);
}

torch::Tensor matrix(const json& rows, torch::Dtype dtype = torch::kFloat) {
  std::vector<double> flat;
  for (const auto& r : rows) {
    for (const auto& v : r) flat.push_back(v.get<double>());
  }
  const auto n = static_cast<int64_t>(rows.size());
  return torch::tensor(flat, torch::kDouble).reshape({n, -1}).to(dtype);
}

torch::Tensor labels_of(const json& v) {
  return torch::tensor(v.get<std::vector<int64_t>>(), torch::kLong);
}

kd::QualityScores run_case(const json& c, int64_t block_rows = 1024,
                           torch::Dtype dtype = torch::kFloat) {
  kd::QualityOptions o;
  o.block_rows = block_rows;
  return kd::knowledge_quality(matrix(c["feats_a"], dtype), labels_of(c["labels_a"]),
                               matrix(c["feats_b"], dtype), labels_of(c["labels_b"]),
                               c["num_classes"].get<int64_t>(), c["n_train"].get<int64_t>(), o);
}

/// Every reported number with its name, for field-by-field comparisons.
std::vector<std::pair<const char*, double>> fields(const kd::QualityScores& s) {
  return {{"separation", s.separation},
          {"information", s.information},
          {"efficiency", s.efficiency},
          {"quality", s.quality},
          {"avg_intra", s.avg_intra},
          {"avg_inter", s.avg_inter},
          {"min_intra", s.min_intra},
          {"mean_entropy", s.mean_entropy},
          {"min_inter_dist", s.min_inter_dist},
          {"avg_norm", s.avg_norm},
          {"pcagid", static_cast<double>(s.pcagid)}};
}

/// Empty when every field of `got` is within rel * |want| + abs of `want`, else the first miss.
std::string mismatch(const kd::QualityScores& got, const kd::QualityScores& want, double rel,
                     double abs = 1e-12) {
  const auto g = fields(got), w = fields(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::abs(g[i].second - w[i].second) <= rel * std::abs(w[i].second) + abs)) {
      std::ostringstream os;
      os.precision(17);
      os << g[i].first << ": got " << g[i].second << ", want " << w[i].second;
      return os.str();
    }
  }
  return {};
}

kd::QualityScores expected_of(const json& c) {
  const json& e = c["expected"];
  kd::QualityScores s;
  s.separation = e["separation"];
  s.information = e["information"];
  s.efficiency = e["efficiency"];
  s.quality = e["quality"];
  s.avg_intra = e["avg_intra"];
  s.avg_inter = e["avg_inter"];
  s.min_intra = e["min_intra"];
  s.mean_entropy = e["mean_entropy"];
  s.min_inter_dist = e["min_inter_dist"];
  s.avg_norm = e["avg_norm"];
  s.pcagid = e["pcagid"];
  return s;
}

using kdtest::error_of;

/// Random class blobs: n_per_class samples per class around class means, labels interleaved.
struct Blobs {
  torch::Tensor feats, labels;
};

Blobs blobs(int64_t classes, int64_t per_class, int64_t dim, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor means = 2 * torch::randn({classes, dim});
  const torch::Tensor labels = torch::arange(classes).repeat({per_class});
  const torch::Tensor feats =
      means.index_select(0, labels) + torch::randn({classes * per_class, dim});
  return {feats.relu(), labels};  // non-negative with a common offset, like ReLU features
}

kd::QualityScores quality(const Blobs& a, const Blobs& b, int64_t classes, int64_t n_train,
                          int64_t block_rows = 1024) {
  kd::QualityOptions o;
  o.block_rows = block_rows;
  return kd::knowledge_quality(a.feats, a.labels, b.feats, b.labels, classes, n_train, o);
}

/// Records the fractions reported and cancels after `cancel_after` reports (never when < 0).
class RecordingSink final : public kd::ProgressSink {
 public:
  explicit RecordingSink(int cancel_after = -1) : cancel_after_(cancel_after) {}
  void progress(double fraction, const std::string&) override { fractions.push_back(fraction); }
  bool cancelled() const override {
    return cancel_after_ >= 0 && static_cast<int>(fractions.size()) >= cancel_after_;
  }
  std::vector<double> fractions;

 private:
  int cancel_after_;
};

kd::QualityScores with(double q, double s, double i, double e) {
  kd::QualityScores r;
  r.quality = q;
  r.separation = s;
  r.information = i;
  r.efficiency = e;
  return r;
}

}  // namespace

class TestKnowledgeQuality : public QObject {
  Q_OBJECT

 private slots:
  void matchesReference_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("blockRows");
    QTest::addColumn<bool>("float64");
    for (const auto& c : reference()["cases"]) {
      const auto name = QString::fromStdString(c["name"].get<std::string>());
      for (const int block : {1, 3, 1024}) {
        for (const bool f64 : {false, true}) {
          const QString row =
              QString("%1 block=%2 %3").arg(name).arg(block).arg(f64 ? "f64" : "f32");
          QTest::newRow(row.toUtf8().constData()) << name << block << f64;
        }
      }
    }
  }

  void matchesReference() {
    QFETCH(QString, name);
    QFETCH(int, blockRows);
    QFETCH(bool, float64);
    const json c = reference_case(name.toStdString());  // a copy: GCC 14 warns (falsely) on a reference
    const kd::QualityScores got = run_case(c, blockRows, float64 ? torch::kDouble : torch::kFloat);
    // The fixture's features are multiples of 1/16, the same in float32 and float64, and both
    // sides compute in float64: only summation order differs (seen: < 1e-13).
    const std::string miss = mismatch(got, expected_of(c), 1e-10, 1e-12);
    QVERIFY2(miss.empty(), miss.c_str());
  }

  void handComputed() {
    // A: class 0 a1 = (1,0), a2 = (1,1); class 1 b1 = (0,2), b2 = (-1,1). Norms 1, r2, 2, r2
    // (r2 = sqrt 2).
    // P within classes: |a1.a2| / (1 r2) = 1/r2; |b1.b2| / (2 r2) = 2 / (2 r2) = 1/r2, so
    //   AvgIntra = MinIntra = 1/r2 for both classes.
    // P across: a1.b1 = 0, |a1.b2| = 1 -> 1/r2, a2.b1 = 2 -> 2/(2 r2) = 1/r2, a2.b2 = 0, so
    //   AvgInter_01 = AvgInter_10 = (0 + 1/r2 + 1/r2 + 0) / 4 = 1/(2 r2); S = 1/(2 r2).
    // Distances across: |a1-b1| = |(1,-2)| = sqrt 5, |a1-b2| = |(2,-1)| = sqrt 5,
    //   |a2-b1| = |(1,-1)| = r2, |a2-b2| = |(2,0)| = 2: MinInterDist_0 = MinInterDist_1 = r2.
    // AvgNorm_0 = (1 + r2)/2, AvgNorm_1 = (2 + r2)/2, mean (3 + 2 r2)/4. PCAGID = min(4, 2) = 2.
    // N_train = 4: E = (4/pi)^(1/2) * 2 r2 / ((3 + 2 r2)/4) = 16 r2 / (sqrt(pi) (3 + 2 r2)).
    // B class 0: (1,0), (-1,0), (0,1); mean (0,1/3); centered (1,-1/3), (-1,-1/3), (0,2/3);
    //   X^T X = diag(2, 2/3): lambda = (3/4, 1/4), H_0 = ln 4 - (3/4) ln 3.
    // B class 1: (2,0), (0,2), (-2,0), (0,-2); mean 0; X^T X = diag(8, 8): H_1 = ln 2.
    // I = (1 - 1/r2) * (H_0 + H_1)/2 / ln 5; Q = S + sqrt(I E).
    const double r2 = std::sqrt(2.0), pi = std::numbers::pi;
    kd::QualityScores want;
    want.avg_intra = 1 / r2;
    want.min_intra = 1 / r2;
    want.avg_inter = 1 / (2 * r2);
    want.separation = 1 / (2 * r2);
    want.min_inter_dist = r2;
    want.avg_norm = (3 + 2 * r2) / 4;
    want.pcagid = 2;
    want.efficiency = 16 * r2 / (std::sqrt(pi) * (3 + 2 * r2));
    want.mean_entropy = (std::log(4.0) - 0.75 * std::log(3.0) + std::log(2.0)) / 2;
    want.information = (1 - 1 / r2) * want.mean_entropy / std::log(5.0);
    want.quality = want.separation + std::sqrt(want.information * want.efficiency);
    const kd::QualityScores got = kd::knowledge_quality(
        torch::tensor({1.f, 0.f, 1.f, 1.f, 0.f, 2.f, -1.f, 1.f}).reshape({4, 2}),
        torch::tensor({0, 0, 1, 1}),
        torch::tensor({1.f, 0.f, -1.f, 0.f, 0.f, 1.f, 2.f, 0.f, 0.f, 2.f, -2.f, 0.f, 0.f, -2.f})
            .reshape({7, 2}),
        torch::tensor({0, 0, 0, 1, 1, 1, 1}), 2, 4);
    const std::string miss = mismatch(got, want, 1e-12);
    QVERIFY2(miss.empty(), miss.c_str());
    // The numpy reference agrees with the hand computation.
    const std::string ref = mismatch(expected_of(reference_case("hand_2x2")), want, 1e-12);
    QVERIFY2(ref.empty(), ref.c_str());
  }

  void blockingChangesNothing_data() {
    QTest::addColumn<int>("dim");
    QTest::newRow("D=50 > B class size") << 50;
    QTest::newRow("D=6 < B class size") << 6;
    QTest::newRow("D=5000, several column chunks") << 5000;
  }

  void blockingChangesNothing() {
    QFETCH(int, dim);
    const Blobs a = blobs(4, 9, dim, 1), b = blobs(4, 11, dim, 2);
    const kd::QualityScores whole = quality(a, b, 4, 50000, 1024);
    // 1 << 20 rows per block leaves 4 columns per float64 chunk, 1 << 22 a single column.
    for (const int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{36},
                               int64_t{1} << 20, int64_t{1} << 22}) {
      const std::string miss = mismatch(quality(a, b, 4, 50000, rows), whole, 1e-11);
      QVERIFY2(miss.empty(), (std::to_string(rows) + " rows per block: " + miss).c_str());
    }
  }

  void permutationChangesNothing() {
    const Blobs a = blobs(3, 12, 20, 3), b = blobs(3, 15, 20, 4);
    const kd::QualityScores base = quality(a, b, 3, 1000, 5);
    torch::manual_seed(5);
    const torch::Tensor pa = torch::randperm(a.labels.size(0)),
                        pb = torch::randperm(b.labels.size(0));
    const Blobs a2{a.feats.index_select(0, pa), a.labels.index_select(0, pa)};
    const Blobs b2{b.feats.index_select(0, pb), b.labels.index_select(0, pb)};
    const std::string miss = mismatch(quality(a2, b2, 3, 1000, 5), base, 1e-11);
    QVERIFY2(miss.empty(), miss.c_str());
  }

  void scaleChangesOnlyNormsAndDistances() {
    // P is scale-free, the spectrum is normalised, and E's ratio MinInterDist / AvgNorm has the
    // scale in both terms: S, I, E and Q are invariant; the two lengths scale.
    const Blobs a = blobs(3, 10, 30, 6), b = blobs(3, 8, 30, 7);
    const kd::QualityScores base = quality(a, b, 3, 50000);
    for (const double k : {7.25, 1e-3}) {
      const kd::QualityScores s =
          quality({a.feats * k, a.labels}, {b.feats * k, b.labels}, 3, 50000);
      kd::QualityScores want = base;
      want.min_inter_dist *= k;
      want.avg_norm *= k;
      const std::string miss = mismatch(s, want, 1e-6);
      QVERIFY2(miss.empty(), miss.c_str());
    }
  }

  void absentClassesAreLeftOut() {
    // The same data with labels spread over 7 classes (3, 4, 5 and 6 unused) gives the same Q.
    const Blobs a = blobs(3, 6, 12, 8), b = blobs(3, 6, 12, 9);
    const kd::QualityScores base = quality(a, b, 3, 500);
    const torch::Tensor remap = torch::tensor({0, 2, 1});  // class 1 -> 2, 2 -> 1: order is free
    const kd::QualityScores spread = quality({a.feats, remap.index_select(0, a.labels)},
                                             {b.feats, remap.index_select(0, b.labels)}, 7, 500);
    const std::string miss = mismatch(spread, base, 1e-12);
    QVERIFY2(miss.empty(), miss.c_str());
  }

  void zeroVectorsHaveNoCosine() {
    // Class 0: (1,0) and the zero vector (P = 0); class 1: (0,1), (0,2) (P = 1); across: 0.
    const auto a = torch::tensor({1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 2.f}).reshape({4, 2});
    const auto la = torch::tensor({0, 0, 1, 1});
    const kd::QualityScores s = kd::knowledge_quality(a, la, a, la, 2, 100);
    QCOMPARE(s.avg_intra, 0.5);
    QCOMPARE(s.min_intra, 0.5);
    QCOMPARE(s.avg_inter, 0.0);
    QCOMPARE(s.separation, 0.5);
    // Distances across: |(1,0)-(0,1)| = r2, |0-(0,1)| = 1 -> MinInterDist_0 = 1, _1 = 1.
    QCOMPARE(s.min_inter_dist, 1.0);
    QCOMPARE(s.avg_norm, (0.5 + 1.5) / 2);
  }

  void allZeroLayer() {
    const auto z = torch::zeros({6, 4});
    const auto l = torch::tensor({0, 1, 2, 0, 1, 2});
    const kd::QualityScores s = kd::knowledge_quality(z, l, z, l, 3, 100);
    QCOMPARE(s.separation, 0.0);
    QCOMPARE(s.min_intra, 0.0);
    QCOMPARE(s.mean_entropy, 0.0);
    QCOMPARE(s.information, 0.0);
    QCOMPARE(s.efficiency, 0.0);
    QCOMPARE(s.quality, 0.0);
    QCOMPARE(s.pcagid, int64_t{4});
  }

  void identicalSamples() {
    // Integer features: every product is exact, so duplicates give P = 1 and distance 0 exactly.
    const auto a =
        torch::tensor({3.f, 1.f, 2.f, 3.f, 1.f, 2.f, 0.f, 5.f, 1.f, 3.f, 1.f, 2.f}).reshape({4, 3});
    const auto la = torch::tensor({0, 0, 1, 1});  // rows 0, 1 and 3 are the same vector
    // B: class 0 three copies of a float32 vector that is not a short binary fraction (the mean is
    // still exact in float64, so the class has no variance); class 1 the +-2 cross (H = ln 2).
    const auto v = torch::tensor({0.1f, 0.7f, -1.3f});
    const auto b =
        torch::cat({v, v, v,
                    torch::tensor({2.f, 0.f, 0.f, 0.f, 2.f, 0.f, -2.f, 0.f, 0.f, 0.f, -2.f, 0.f})})
            .reshape({7, 3});
    const auto lb = torch::tensor({0, 0, 0, 1, 1, 1, 1});
    const kd::QualityScores s = kd::knowledge_quality(a, la, b, lb, 2, 100);
    QCOMPARE(s.min_inter_dist, 0.0);
    QCOMPARE(s.mean_entropy, std::log(2.0) / 2);
    // Class 0: P(row0,row1) = 1; class 1: rows (0,5,1) and (3,1,2): 7 / (sqrt 26 sqrt 14).
    const double p1 = 7 / std::sqrt(26.0 * 14.0);
    QVERIFY(std::abs(s.min_intra - (1 + p1) / 2) < 1e-15);
    QVERIFY(std::abs(s.avg_intra - (1 + p1) / 2) < 1e-15);
  }

  void smallClassesInSampleB() {
    // B class 0: one sample (H = 0); class 1 all zero (H = 0); class 2 absent (left out);
    // class 3 the +-2 cross (H = ln 2): mean over the 3 classes present = ln 2 / 3.
    const Blobs a = blobs(4, 3, 2, 10);
    const auto b =
        torch::tensor({5.f, 1.f, 0.f, 0.f, 0.f, 0.f, 2.f, 0.f, 0.f, 2.f, -2.f, 0.f, 0.f, -2.f})
            .reshape({7, 2});
    const auto lb = torch::tensor({0, 1, 1, 3, 3, 3, 3});
    const kd::QualityScores s = kd::knowledge_quality(a.feats, a.labels, b, lb, 4, 100);
    QVERIFY(std::abs(s.mean_entropy - std::log(2.0) / 3) < 1e-15);
  }

  void singletonClassInA() {
    // Class 2 has one sample: it has no intra pairs, but counts for norms, distances and inter.
    const auto a =
        torch::tensor({1.f, 0.f, 2.f, 0.f, 0.f, 1.f, 0.f, 3.f, 1.f, 1.f}).reshape({5, 2});
    const auto la = torch::tensor({0, 0, 1, 1, 2});
    const kd::QualityScores s = kd::knowledge_quality(a, la, a, la, 3, 100);
    QCOMPARE(s.avg_intra, 1.0);  // classes 0 and 1 only, both collinear
    QCOMPARE(s.min_intra, 1.0);
    // AvgInter: (0,1) 0; (0,2) and (1,2) both 1/r2; ordered pairs: (0 + 2/r2) * 2 / 6.
    QVERIFY(std::abs(s.avg_inter - (2 / std::sqrt(2.0)) / 3) < 1e-15);
    QCOMPARE(s.avg_norm, (1.5 + 2.0 + std::sqrt(2.0)) / 3);
    // Singletons everywhere: no pairs at all.
    const std::string e = error_of([&] {
      kd::knowledge_quality(a.slice(0, 0, 3), torch::tensor({0, 1, 2}), a, la, 3, 100);
    });
    QVERIFY2(QString::fromStdString(e).contains("no class has 2 or more samples"), e.c_str());
  }

  void reportsProgressAndCancels() {
    const Blobs a = blobs(3, 10, 8, 11), b = blobs(3, 10, 8, 12);
    RecordingSink sink;
    kd::QualityOptions o;
    o.block_rows = 4;
    kd::knowledge_quality(a.feats, a.labels, b.feats, b.labels, 3, 100, o, &sink);
    QVERIFY(sink.fractions.size() >= 3);
    QVERIFY(std::is_sorted(sink.fractions.begin(), sink.fractions.end()));
    QCOMPARE(sink.fractions.back(), 1.0);
    RecordingSink cancelling(1);
    QVERIFY_THROWS_EXCEPTION(
        kd::Cancelled,
        kd::knowledge_quality(a.feats, a.labels, b.feats, b.labels, 3, 100, o, &cancelling));
  }

  void badInputs_data() {
    QTest::addColumn<int>("which");
    QTest::addColumn<QString>("message");
    QTest::newRow("label too large") << 0 << "sample A has label 3, outside [0, 3)";
    QTest::newRow("negative label in B") << 1 << "sample B has label -1, outside [0, 3)";
    QTest::newRow("rows vs labels") << 2 << "sample A has 6 feature rows but 5 labels";
    QTest::newRow("one class present") << 3 << "samples of only 1 class(es)";
    QTest::newRow("1-D features") << 4 << "must have shape (samples, features...)";
    QTest::newRow("integer features") << 5 << "must be floating point";
    QTest::newRow("float labels") << 6 << "must be a 1-D integer tensor";
    QTest::newRow("D differs") << 7 << "sample A has 4 features per sample but sample B has 5";
    QTest::newRow("num_classes 1") << 8 << "needs at least 2 classes, got 1";
    QTest::newRow("n_train 0") << 9 << "training split size must be positive";
    QTest::newRow("block_rows 0") << 10 << "block_rows must be at least 1";
    QTest::newRow("NaN in A") << 11 << "sample A contain NaN or infinite values";
    QTest::newRow("inf in B") << 12 << "sample B contain NaN or infinite values";
    QTest::newRow("empty B") << 13 << "sample B is empty";
  }

  void badInputs() {
    QFETCH(int, which);
    QFETCH(QString, message);
    torch::manual_seed(13);
    torch::Tensor fa = torch::randn({6, 4}), la = torch::tensor({0, 1, 2, 0, 1, 2});
    torch::Tensor fb = torch::randn({6, 4}), lb = la.clone();
    int64_t classes = 3, n_train = 100;
    kd::QualityOptions o;
    switch (which) {
      case 0:
        la[1] = 3;
        break;
      case 1:
        lb[2] = -1;
        break;
      case 2:
        la = la.slice(0, 0, 5);
        break;
      case 3:
        la.fill_(1);
        break;
      case 4:
        fa = fa.flatten();
        break;
      case 5:
        fa = fa.to(torch::kInt);
        break;
      case 6:
        la = la.to(torch::kFloat);
        break;
      case 7:
        fb = torch::randn({6, 5});
        break;
      case 8:
        classes = 1;
        break;
      case 9:
        n_train = 0;
        break;
      case 10:
        o.block_rows = 0;
        break;
      case 11:
        fa[2][1] = std::numeric_limits<float>::quiet_NaN();
        break;
      case 12:
        fb[4][0] = std::numeric_limits<float>::infinity();
        break;
      case 13:
        fb = torch::zeros({0, 4});
        lb = torch::zeros({0}, torch::kLong);
        break;
    }
    const std::string e =
        error_of([&] { kd::knowledge_quality(fa, la, fb, lb, classes, n_train, o); });
    QVERIFY2(QString::fromStdString(e).contains(message), e.c_str());
  }

  void selectLayers() {
    const std::vector<kd::QualityScores> s = {
        with(0.5, 0.9, 0.1, 1.0),  // 0
        with(0.9, 0.1, 0.2, 4.0),  // 1
        with(0.7, 0.3, 0.9, 0.1),  // 2
        with(0.9, 0.2, 0.4, 0.5),  // 3: ties with 1 on Q
        with(0.1, 0.8, 0.1, 0.9),  // 4: I E = 0.9 * 0.1 exactly as layer 2
    };
    QCOMPARE(kd::select_layers(s, 2), (std::vector<int>{1, 3}));
    QCOMPARE(kd::select_layers(s, 3), (std::vector<int>{1, 2, 3}));  // depth order, not rank
    QCOMPARE(kd::select_layers(s, 5), (std::vector<int>{0, 1, 2, 3, 4}));
    QCOMPARE(kd::select_layers(s, 1), (std::vector<int>{1}));  // tie 1 vs 3: the shallower
    QCOMPARE(kd::select_layers(s, 2, kd::SelectionCriterion::kSeparation),
             (std::vector<int>{0, 4}));
    QCOMPARE(kd::select_layers(s, 1, kd::SelectionCriterion::kInformation), (std::vector<int>{2}));
    QCOMPARE(kd::select_layers(s, 2, kd::SelectionCriterion::kEfficiency),
             (std::vector<int>{0, 1}));
    // sqrt(I E): 0.316, 0.894, 0.3, 0.447, 0.3: layers 2 and 4 tie, the shallower wins.
    QCOMPARE(kd::select_layers(s, 3, kd::SelectionCriterion::kSqrtIE), (std::vector<int>{0, 1, 3}));
    QCOMPARE(kd::select_layers(s, 4, kd::SelectionCriterion::kSqrtIE),
             (std::vector<int>{0, 1, 2, 3}));
    // A NaN score ranks last.
    std::vector<kd::QualityScores> n = {with(std::nan(""), 0, 0, 0), with(-5, 0, 0, 0)};
    QCOMPARE(kd::select_layers(n, 1), (std::vector<int>{1}));
    for (const int k : {0, -1, 6}) {
      const std::string e = error_of([&] { kd::select_layers(s, k); });
      QVERIFY2(QString::fromStdString(e).contains("out of 5 (choose between 1 and 5)"), e.c_str());
    }
    const std::string e = error_of([] { kd::select_layers({}, 1); });
    QVERIFY2(QString::fromStdString(e).contains("no teacher layers to select from"), e.c_str());
  }

  void parseCriterion() {
    using C = kd::SelectionCriterion;
    QCOMPARE(kd::parse_selection_criterion("Q"), C::kQuality);
    QCOMPARE(kd::parse_selection_criterion("q"), C::kQuality);
    QCOMPARE(kd::parse_selection_criterion("S"), C::kSeparation);
    QCOMPARE(kd::parse_selection_criterion("i"), C::kInformation);
    QCOMPARE(kd::parse_selection_criterion("E"), C::kEfficiency);
    QCOMPARE(kd::parse_selection_criterion("sqrtIE"), C::kSqrtIE);
    QCOMPARE(kd::parse_selection_criterion("SQRTie"), C::kSqrtIE);
    for (const char* bad : {"", "QQ", "sqrt(IE)", "quality", " Q"}) {
      const std::string e = error_of([&] { kd::parse_selection_criterion(bad); });
      QVERIFY2(QString::fromStdString(e).contains("use Q, S, I, E or sqrtIE"), e.c_str());
    }
  }

  void poolFactor() {
    QCOMPARE(kd::feature_pool_factor(1), int64_t{1});
    QCOMPARE(kd::feature_pool_factor(64 * 32 * 32), int64_t{1});
    QCOMPARE(kd::feature_pool_factor(262144), int64_t{1});
    QCOMPARE(kd::feature_pool_factor(262145), int64_t{2});
    QCOMPARE(kd::feature_pool_factor(4 * 262144), int64_t{2});
    QCOMPARE(kd::feature_pool_factor(4 * 262144 + 1), int64_t{3});
    QCOMPARE(kd::feature_pool_factor(9 * 262144), int64_t{3});
    QCOMPARE(kd::feature_pool_factor(64 * 224 * 224), int64_t{4});  // 12.25 -> sqrt 3.5 -> 4
    QCOMPARE(kd::feature_pool_factor(std::numeric_limits<int64_t>::max()), int64_t{5931642});
    for (const int64_t bad : {int64_t{0}, int64_t{-3}}) {
      const std::string e = error_of([&] { kd::feature_pool_factor(bad); });
      QVERIFY2(QString::fromStdString(e).contains("feature dimension must be positive"), e.c_str());
    }
  }

  void cudaMatchesCpu() {
    if (!torch::cuda::is_available()) QSKIP("no CUDA device");
    const Blobs a = blobs(5, 20, 300, 14), b = blobs(5, 30, 300, 15);
    const kd::QualityScores cpu = quality(a, b, 5, 50000, 16);
    const torch::Device gpu(torch::kCUDA);
    const kd::QualityScores cuda =
        quality({a.feats.to(gpu), a.labels.to(gpu)}, {b.feats.to(gpu), b.labels}, 5, 50000, 16);
    const std::string miss = mismatch(cuda, cpu, 1e-10);
    QVERIFY2(miss.empty(), miss.c_str());
  }

  void timing() {
    // Not a check: KD_KQ_TIMING=1 times the method's largest common case (|A| = 5000,
    // D = 64 x 32 x 32, 10 classes, B = 500 per class) on the CPU, or on CUDA when available.
    if (qEnvironmentVariableIsEmpty("KD_KQ_TIMING")) QSKIP("set KD_KQ_TIMING=1 to time");
    const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
    const int64_t dim = qEnvironmentVariableIntValue("KD_KQ_TIMING_DIM") > 0
                            ? qEnvironmentVariableIntValue("KD_KQ_TIMING_DIM")
                            : 65536;
    torch::manual_seed(16);
    const auto a = torch::randn({5000, dim}).relu_().to(device);
    const auto la = torch::arange(10).repeat({500}).to(device);
    const auto b = torch::randn({5000, dim}).relu_().to(device);
    const auto t0 = std::chrono::steady_clock::now();
    const kd::QualityScores s = kd::knowledge_quality(a, la, b, la, 10, 50000);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    qInfo("knowledge_quality |A| = 5000, |B| = 5000, D = %lld on %s: %.2f s (Q = %.6f)",
          static_cast<long long>(dim), device.is_cuda() ? "CUDA" : "CPU", sec, s.quality);
    QVERIFY(std::isfinite(s.quality));
  }
};

QTEST_APPLESS_MAIN(TestKnowledgeQuality)
#include "test_knowledge_quality.moc"
