// The streaming layer analysis: the layer-by-layer chain equals a direct forward, streaming
// equals the store-everything method, the recommendation, cancellation within one layer, the
// on-disk cache (same numbers, invalidated when the model file changes), CKA from Gram matrices,
// and clear errors when model and data disagree.
#include <QtTest/QtTest>
#include <torch/torch.h>

#include <atomic>

#include "analysis/activation_chain.h"
#include "analysis/analysis_cache.h"
#include "analysis/cka_matrix.h"
#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "analysis/layer_analyzer.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/seeded_random.h"
#include "data/transforms.h"
#include "models/model_file.h"
#include "models/model_loader.h"
#include "models/zoo/zoo_builder.h"

namespace {

constexpr const char* kSpec = "resnet9:channels=1,size=28,width=0.125";

/// 10 classes x `per_class` random 1x28x28 images whose mean brightness depends on the class.
kd::Dataset synthetic(int64_t per_class, uint64_t seed = 0) {
  torch::manual_seed(seed);
  kd::Dataset d;
  d.name = "synthetic";
  d.source = "test";
  for (int c = 0; c < 10; ++c) d.class_names.push_back("c" + std::to_string(c));
  const int64_t n = 10 * per_class;
  torch::Tensor labels = torch::arange(n, torch::kInt64) % 10;
  torch::Tensor base = (labels.to(torch::kFloat32) * 20 + 30).view({n, 1, 1, 1});
  torch::Tensor noise = torch::randint(0, 60, {n, 1, 28, 28}, torch::kFloat32);
  d.train.images = (base + noise).clamp(0, 255).to(torch::kUInt8);
  d.train.labels = labels;
  d.test = d.train;
  return d;
}

kd::AnalysisSettings small_settings() {
  kd::AnalysisSettings s;
  s.per_class_a = 12;
  s.per_class_b = 8;
  s.geometry_samples = 100;
  s.batch_size = 64;
  s.device = "cpu";
  return s;
}

/// Cancels once `after` layers have been reported done.
class CancelAfterLayers final : public kd::ProgressSink {
 public:
  explicit CancelAfterLayers(int after) : after_(after) {}
  void progress(double, const std::string& message) override {
    if (message.find(" done") != std::string::npos) ++done_;
  }
  bool cancelled() const override { return done_ >= after_; }
  int done() const { return done_; }

 private:
  int after_;
  std::atomic<int> done_{0};
};

}  // namespace

class TestLayerAnalysis : public QObject {
  Q_OBJECT

 private slots:
  void analysisCoversEveryLayer() {
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec));
    const kd::Dataset data = synthetic(20);
    const kd::AnalysisResult r = kd::analyze_layers(*model, data, small_settings());
    QCOMPARE(static_cast<int>(r.layers.size()), 6);
    QCOMPARE(r.sample_a, 120);
    QCOMPARE(r.sample_b, 80);
    QCOMPARE(r.n_train, 200);
    for (const auto& l : r.layers) {
      QVERIFY(std::isfinite(l.scores.quality));
      // Q = S + sqrt(I * E) by definition.
      QVERIFY(std::abs(l.scores.quality -
                       (l.scores.separation + std::sqrt(l.scores.information * l.scores.efficiency))) < 1e-9);
      QCOMPARE(l.scores.pcagid, std::min<int64_t>(120, l.feature_dim));
      QVERIFY(l.ncc_accuracy >= 0 && l.ncc_accuracy <= 1);
    }
    QCOMPARE(r.recommended.size(), size_t{4});
    QVERIFY(std::is_sorted(r.recommended.begin(), r.recommended.end()));
    // The recommendation is the top 4 by Q.
    std::vector<double> q;
    for (const auto& l : r.layers) q.push_back(l.scores.quality);
    for (int l = 0; l < 6; ++l) {
      const bool chosen = std::find(r.recommended.begin(), r.recommended.end(), l) != r.recommended.end();
      int higher = 0;
      for (double v : q) higher += v > q[static_cast<size_t>(l)];
      QCOMPARE(chosen, higher < 4);
    }
    QCOMPARE(r.by_criterion.at("Q"), r.recommended);
  }

  void chainEqualsDirectForward_data() {
    QTest::addColumn<QString>("spec");
    QTest::newRow("resnet9") << kSpec;                                         // shrinking, in place
    QTest::newRow("mobilenetv2") << "mobilenetv2:channels=1,size=28,width=0.125";  // expanding layers
    QTest::newRow("vgg11_bn") << "vgg11_bn:channels=1,size=28,width=0.125";      // flatten + head
    QTest::newRow("vit_ett") << "vit_ett:channels=1,size=28,width=0.125";        // tokens
  }

  void chainEqualsDirectForward() {
    QFETCH(QString, spec);
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec.toStdString()), 2);
    const kd::Dataset data = synthetic(3);
    const kd::ChannelStats stats = kd::compute_channel_stats(data.train);
    kd::ActivationChain chain(*model, data.train.images, stats, torch::kCPU, 7);  // odd batches
    model->set_training(false);
    torch::NoGradGuard no_grad;
    const torch::Tensor x = kd::to_normalized_float(data.train.images, stats);
    for (int l = 0; l < model->num_layers(); ++l) {
      chain.advance();
      QCOMPARE(chain.layer(), l);
      const torch::Tensor expected = model->forward_to(x, l);
      QVERIFY2(torch::allclose(chain.outputs(), expected, 1e-4, 1e-5), qPrintable(QString("layer %1").arg(l)));
    }
  }

  void streamingEqualsStoreEverything() {
    // The analysis must give the numbers of the straightforward method: every layer's features
    // of both samples extracted first, then knowledge_quality on each.
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec));
    const kd::Dataset data = synthetic(20);
    const kd::AnalysisSettings s = small_settings();
    const auto streamed = kd::analyze_layers(*model, data, s);
    const auto ia = torch::tensor(kd::balanced_subset(data.train.labels, 10, 12, 0), torch::kInt64);
    const auto ib = torch::tensor(kd::balanced_subset(data.train.labels, 10, 8, kd::mix_seed(0, 1)), torch::kInt64);
    std::vector<int> all = {0, 1, 2, 3, 4, 5};
    const kd::ChannelStats stats = kd::compute_channel_stats(data.train);
    const auto fa = kd::extract_features(*model, data.train.images.index_select(0, ia), stats, all);
    const auto fb = kd::extract_features(*model, data.train.images.index_select(0, ib), stats, all);
    for (int l = 0; l < 6; ++l) {
      const auto q = kd::knowledge_quality(fa[l], data.train.labels.index_select(0, ia), fb[l],
                                           data.train.labels.index_select(0, ib), 10, 200);
      QVERIFY(std::abs(q.quality - streamed.layers[l].scores.quality) < 1e-5);
      QVERIFY(std::abs(q.efficiency - streamed.layers[l].scores.efficiency) < 1e-5);
    }
    QCOMPARE(kd::group_layers_by_memory(model->layers(), 100, 0).size(), size_t{6});
  }

  void cancelStopsWithinOneLayer() {
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec));
    const kd::Dataset data = synthetic(20);
    kd::AnalysisSettings s = small_settings();
    CancelAfterLayers sink(2);
    bool cancelled = false;
    try {
      kd::analyze_layers(*model, data, s, &sink);
    } catch (const kd::Cancelled&) {
      cancelled = true;
    }
    QVERIFY(cancelled);
    QCOMPARE(sink.done(), 2);  // no further layer was finished after the request
  }

  void cacheReturnsSameNumbersAndNoticesChangedModel() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("teacher.kdmodel").toStdString();
    auto built = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec), 1);
    kd::save_zoo_model(*built, path);
    const kd::Dataset data = synthetic(20);
    const kd::AnalysisSettings s = small_settings();
    const kd::AnalysisCache cache(dir.filePath("cache").toStdString());

    kd::LoadedModel m1 = kd::load_model(path);
    const std::string key1 = kd::AnalysisCache::key(m1, data, s);
    QVERIFY(!cache.load(key1).has_value());
    const auto fresh = kd::analyze_layers(*m1.model, data, s);
    QVERIFY(cache.store(key1, fresh));
    const auto cached = cache.load(key1);
    QVERIFY(cached.has_value());
    QVERIFY(cached->from_cache);
    QCOMPARE(cached->recommended, fresh.recommended);
    for (size_t l = 0; l < fresh.layers.size(); ++l) {
      QCOMPARE(cached->layers[l].scores.quality, fresh.layers[l].scores.quality);
      QCOMPARE(cached->layers[l].scores.efficiency, fresh.layers[l].scores.efficiency);
    }
    // Same settings, another seed: another key.
    kd::AnalysisSettings s2 = s;
    s2.seed = 7;
    QVERIFY(kd::AnalysisCache::key(m1, data, s2) != key1);
    // The file changes (one weight): the old entry is not served.
    {
      torch::NoGradGuard no_grad;
      built->parameters()[0].add_(0.5);
    }
    kd::save_zoo_model(*built, path);
    const kd::LoadedModel m2 = kd::load_model(path);
    const std::string key2 = kd::AnalysisCache::key(m2, data, s);
    QVERIFY(key2 != key1);
    QVERIFY(!cache.load(key2).has_value());
  }

  void jsonRoundTrip() {
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec));
    const auto r = kd::analyze_layers(*model, synthetic(10), small_settings());
    const auto back = kd::analysis_from_json(kd::analysis_to_json(r));
    QCOMPARE(back.layers.size(), r.layers.size());
    QCOMPARE(back.layers[3].layer.shape, r.layers[3].layer.shape);
    QCOMPARE(back.layers[3].scores.separation, r.layers[3].scores.separation);
    try {
      kd::analysis_from_json("{\"model\": 3}");
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY(QString(e.what()).contains("malformed analysis JSON"));
    }
  }

  void modelAndDataMustAgree() {
    auto rgb = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet9:width=0.125"));
    try {
      kd::analyze_layers(*rgb, synthetic(5), small_settings());
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY2(QString(e.what()).contains("takes 3x32x32 inputs but the dataset's images are 1x28x28"), e.what());
    }
    auto wide = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet9:channels=1,size=28,classes=100,width=0.125"));
    try {
      kd::analyze_layers(*wide, synthetic(5), small_settings());
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY2(QString(e.what()).contains("has 100 output classes but the dataset has 10"), e.what());
    }
  }

  void ckaFromGramsMatchesFeatureForm() {
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn({40, 30});
    const torch::Tensor y = torch::randn({40, 12});
    const double via_gram = kd::cka_from_grams(kd::centered_gram(x), kd::centered_gram(y));
    QVERIFY(std::abs(via_gram - kd::linear_cka(x, y)) < 1e-6);
    QVERIFY(std::abs(kd::cka_from_grams(kd::centered_gram(x), kd::centered_gram(2.5 * x)) - 1.0) < 1e-9);
  }

  void ckaMatrixOfAModelWithItselfHasUnitDiagonal() {
    auto a = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec), 1);
    auto b = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kSpec), 1);
    kd::CkaSettings s;
    s.per_class = 6;
    s.device = "cpu";
    const auto m = kd::cka_matrix(*a, *b, synthetic(10), s);
    QCOMPARE(m.size(), size_t{6});
    for (size_t i = 0; i < 6; ++i) {
      QVERIFY(std::abs(m[i][i] - 1.0) < 1e-6);
      for (double v : m[i]) QVERIFY(v >= -1e-9 && v <= 1 + 1e-9);
    }
  }
};

QTEST_APPLESS_MAIN(TestLayerAnalysis)
#include "test_layer_analysis.moc"
