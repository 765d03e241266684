// The Layers page, offscreen, on the bundled Fashion-MNIST teacher and the default student with
// a small class-balanced slice of the training data: the curves show the analysis' numbers,
// clicks toggle layers, the recommendation picks Q's layers and the student's standard layers,
// the CKA map equals kd::cka_matrix, errors and cancellation keep what was shown, the second
// analysis comes from the cache, a result whose inputs changed is dropped, and a trained
// student's S/I/E/Q are drawn beside the teacher's over relative depth.
// Set KD_SCREENSHOT_DIR to also save a PNG of the page.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <cmath>

#include "analysis/cka_matrix.h"
#include "plots/cka_heatmap.h"
#include "plots/depth_profile_plot.h"
#include "data/data_spec.h"
#include "distill/standard_layers.h"
#include "plots/layer_mapping_view.h"
#include "table_models/layer_scores_table.h"
#include "pages/layers_page.h"
#include "models/bundled_models.h"
#include "models/model_loader.h"
#include "plots/quality_plot.h"
#include "shell/session.h"
#include "test_util.h"

using kd::ui::LayersPage;
using kd::ui::QualityPlot;
using kd::ui::Session;

namespace {

constexpr int kTimeoutMs = 60000;  // generous: the test machine is shared and slow
constexpr int kTrainPerClass = 30;  // training images per class in the test's dataset
constexpr int kAnalysisPerClass = 10;  // samples A and B per class
constexpr int kCkaPerClass = 5;

/// The first `perClass` images of each class of a split.
kd::DatasetSplit slice(const kd::DatasetSplit& split, int64_t classes, int perClass) {
  std::vector<int64_t> keep;
  std::vector<int> count(static_cast<size_t>(classes), 0);
  const auto labels = split.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < split.size(); ++i) {
    if (count[static_cast<size_t>(labels[i])]++ < perClass) keep.push_back(i);
  }
  const torch::Tensor idx = torch::tensor(keep, torch::kInt64);
  return {split.images.index_select(0, idx), split.labels.index_select(0, idx)};
}

/// Random images of the given shape, `perClass` per class of 10.
kd::Dataset synthetic(int64_t channels, int perClass) {
  torch::manual_seed(1);
  kd::Dataset d;
  d.name = "synthetic";
  d.source = "memory";
  for (int c = 0; c < 10; ++c) d.class_names.push_back("class " + std::to_string(c));
  const int64_t n = 10 * perClass;
  d.train.images = torch::randint(0, 256, {n, channels, 28, 28}, torch::kUInt8);
  d.train.labels = torch::arange(n, torch::kInt64).remainder(10);
  d.test = d.train;
  return d;
}

}  // namespace

class TestLayersPage : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir cacheDir_;
  std::shared_ptr<kd::LoadedModel> teacher_, student_;
  std::shared_ptr<const kd::Dataset> data_;

  static void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
    if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
  }

  std::unique_ptr<Session> makeSession() const {
    auto s = std::make_unique<Session>();
    s->setTeacher(teacher_);
    s->setStudent(student_);
    s->setDataset(data_, "fashion-mnist (slice)");
    return s;
  }

  static QualityPlot* plotOf(LayersPage& page) { return qobject_cast<QualityPlot*>(page.qualityPlot()); }

  /// Runs the analysis and waits for it.
  static void analyse(LayersPage& page, int perClass = kAnalysisPerClass) {
    QSignalSpy done(&page, &LayersPage::analysisFinished);
    page.runAnalysis(perClass);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_layers_page");
    QVERIFY(cacheDir_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", cacheDir_.path().toUtf8());
    const std::string bundled = kd::bundled_teacher_path();
    QVERIFY2(!bundled.empty(), "the bundled teacher is missing");
    teacher_ = std::make_shared<kd::LoadedModel>(kd::load_model(bundled));
    student_ = std::make_shared<kd::LoadedModel>(kd::load_model(kd::kDefaultStudentSpec));
    if (QFileInfo::exists("/usr/share/datasets/fashion-mnist")) {
      const kd::Dataset full = kd::load_dataset("fashion-mnist");
      kd::Dataset small = full;
      small.train = slice(full.train, full.num_classes(), kTrainPerClass);
      small.test = slice(full.test, full.num_classes(), 5);
      data_ = std::make_shared<const kd::Dataset>(std::move(small));
    } else {
      data_ = std::make_shared<const kd::Dataset>(synthetic(1, kTrainPerClass));
    }
  }

  void studentCurvesBesideTheTeacher() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    analyse(page);
    page.showPlot(1);
    auto* depth = qobject_cast<kd::ui::DepthProfilePlot*>(page.depthPlot());
    QVERIFY(depth);
    const int n = teacher_->model->num_layers();
    QCOMPARE(depth->teacherCurve()->dataCount(), n);
    QCOMPARE(depth->studentCurve()->dataCount(), 0);
    // The teacher's own file as "the student": the same model gives the same curve, point for point.
    QSignalSpy done(&page, &LayersPage::studentAnalysisFinished);
    page.analyseStudent(QString::fromStdString(kd::bundled_teacher_path()));
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    QCOMPARE(page.studentLayerCount(), n);
    const auto a = session->analysis();
    for (int series = 0; series < QualityPlot::kSeriesCount; ++series) {
      page.setDepthSeries(series);
      for (int i = 0; i < n; ++i) {
        const auto t = depth->teacherCurve()->data()->at(i);
        const auto s = depth->studentCurve()->data()->at(i);
        QCOMPARE(t->key, kd::ui::relativeDepth(i, n));
        QCOMPARE(s->key, t->key);
        QCOMPARE(s->value, t->value);
      }
    }
    page.setDepthSeries(QualityPlot::kQuality);
    for (int i = 0; i < n; ++i) {
      QCOMPARE(depth->teacherCurve()->data()->at(i)->value, a->layers[size_t(i)].scores.quality);
    }
    // The session's student (the default zoo student): its own layers, at its own depths.
    QSignalSpy again(&page, &LayersPage::studentAnalysisFinished);
    page.analyseStudent();
    QTRY_COMPARE_WITH_TIMEOUT(again.count(), 1, kTimeoutMs);
    const int m = student_->model->num_layers();
    QCOMPARE(page.studentLayerCount(), m);
    QCOMPARE(depth->studentCurve()->dataCount(), m);
    QCOMPARE(depth->studentCurve()->data()->at(m - 1)->key, 1.0);
    saveShot(&page, "layers-student-depth");
    // A file that is not a model: a clear error, the curve shown before stays.
    QTemporaryDir dir;
    const QString bad = dir.filePath("not-a-model.kdmodel");
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("hello");
    f.close();
    QSignalSpy failed(&page, &LayersPage::failed);
    page.analyseStudent(bad);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), kTimeoutMs);
    QVERIFY2(page.lastError().contains("student analysis failed") && page.lastError().contains("not-a-model.kdmodel"),
             qPrintable(page.lastError()));
    QCOMPARE(page.studentLayerCount(), m);
  }

  void curvesShowTheAnalysis() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    analyse(page);
    const auto a = session->analysis();
    QVERIFY(a != nullptr);
    QVERIFY(page.lastError().isEmpty());
    const int n = teacher_->model->num_layers();
    QCOMPARE(static_cast<int>(a->layers.size()), n);
    QualityPlot* plot = plotOf(page);
    QVERIFY(plot && !plot->isStale());
    QCOMPARE(plot->layerCount(), n);
    for (int s = 0; s < QualityPlot::kSeriesCount; ++s) {
      const auto series = static_cast<QualityPlot::Series>(s);
      QCPGraph* g = plot->curve(series);
      QCOMPARE(g->dataCount(), n);
      double maxAbs = 0;
      std::vector<double> raw;
      for (const auto& l : a->layers) {
        const auto& q = l.scores;
        raw.push_back(s == 0 ? q.separation : s == 1 ? q.information : s == 2 ? q.efficiency : q.quality);
        maxAbs = std::max(maxAbs, std::abs(raw.back()));
      }
      QCOMPARE(plot->scale(series), maxAbs);
      for (int l = 0; l < n; ++l) {
        QCOMPARE(g->data()->at(l)->key, double(l));
        QVERIFY2(std::abs(g->data()->at(l)->value * plot->scale(series) - raw[size_t(l)]) <= 1e-12 * maxAbs,
                 qPrintable(QString("series %1 layer %2").arg(s).arg(l)));
      }
    }
    // Q itself: S + sqrt(I * E) per layer, and the recommendation is its top 4 in depth order.
    for (const auto& l : a->layers) {
      QVERIFY(std::abs(l.scores.quality - (l.scores.separation + std::sqrt(l.scores.information * l.scores.efficiency))) < 1e-9);
    }
    std::vector<kd::QualityScores> scores;
    for (const auto& l : a->layers) scores.push_back(l.scores);
    QCOMPARE(a->recommended, kd::select_layers(scores, 4));
    QCPGraph* stars = plot->recommendedMarks();
    QCOMPARE(stars->dataCount(), int(a->recommended.size()));
    for (int i = 0; i < stars->dataCount(); ++i) {
      QCOMPARE(stars->data()->at(i)->key, double(a->recommended[size_t(i)]));
    }
    auto* table = page.findChild<kd::ui::LayerScoresTable*>();
    QCOMPARE(table->rowCount(), n);
    QVERIFY(table->item(a->recommended[0], kd::ui::LayerScoresTable::kLayer)->text().startsWith("★"));
    saveShot(&page, "layers");
  }

  void clicksToggleLayers() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    analyse(page);
    QualityPlot* plot = plotOf(page);
    plot->replot();  // lays the axes out for coordToPixel
    QTest::mouseClick(plot, Qt::LeftButton, {}, plot->layerPixel(3));
    QCOMPARE(session->teacherLayers(), QVector<int>({3}));
    QTest::mouseClick(plot, Qt::LeftButton, {}, plot->layerPixel(7));
    QCOMPARE(session->teacherLayers(), QVector<int>({3, 7}));
    QCOMPARE(plot->selectionBands()->dataCount(), 2);
    QTest::mouseClick(plot, Qt::LeftButton, {}, plot->layerPixel(3));
    QCOMPARE(session->teacherLayers(), QVector<int>({7}));
    // The mapping view: a student box and a teacher box.
    auto* mapping = page.findChild<kd::ui::LayerMappingView*>();
    QTest::mouseClick(mapping, Qt::LeftButton, {}, mapping->studentBox(2).center());
    QCOMPARE(session->studentLayers(), QVector<int>({2}));
    QTest::mouseClick(mapping, Qt::LeftButton, {}, mapping->teacherBox(1).center());
    QCOMPARE(session->teacherLayers(), QVector<int>({1, 7}));
    QCOMPARE(mapping->linkCount(), 1);
    // The table's check boxes toggle too, and follow the session.
    auto* table = page.findChild<kd::ui::LayerScoresTable*>();
    QCOMPARE(table->item(7, kd::ui::LayerScoresTable::kUse)->checkState(), Qt::Checked);
    table->item(7, kd::ui::LayerScoresTable::kUse)->setCheckState(Qt::Unchecked);
    QCOMPARE(session->teacherLayers(), QVector<int>({1}));
    page.toggleStudentLayer(99);  // out of range: ignored
    QCOMPARE(session->studentLayers(), QVector<int>({2}));
  }

  void recommendationPicksQAndStandardStudentLayers() {
    auto session = makeSession();
    LayersPage page(session.get());
    analyse(page);
    page.takeRecommendation();
    const auto& rec = session->analysis()->recommended;
    QCOMPARE(session->teacherLayers(), QVector<int>(rec.begin(), rec.end()));
    const auto standard = kd::standard_layers(*student_->model, static_cast<int>(rec.size()));
    QCOMPARE(session->studentLayers(), QVector<int>(standard.begin(), standard.end()));
    QCOMPARE(session->studentLayers(), QVector<int>({1, 2, 3, 4}));  // ResNet9's, method.md
    QCOMPARE(page.findChild<kd::ui::LayerMappingView*>()->linkCount(), 4);
  }

  void ckaMapEqualsCore() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    QCOMPARE(page.ckaCellCount(), 0);
    QSignalSpy done(&page, &LayersPage::ckaFinished);
    page.runCka(kCkaPerClass);
    QVERIFY(page.isBusy());
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    const int rows = teacher_->model->num_layers(), cols = student_->model->num_layers();
    QCOMPARE(page.ckaCellCount(), rows * cols);
    kd::CkaSettings settings;
    settings.per_class = kCkaPerClass;
    const auto expected = kd::cka_matrix(*teacher_->model, *student_->model, *data_, settings);
    auto* map = qobject_cast<kd::ui::CkaHeatmap*>(page.ckaPlot());
    QCOMPARE(map->colorMap()->data()->keySize(), cols);
    QCOMPARE(map->colorMap()->data()->valueSize(), rows);
    for (int t = 0; t < rows; ++t) {
      for (int s = 0; s < cols; ++s) {
        const double v = expected[size_t(t)][size_t(s)];
        QVERIFY(v >= -1e-9 && v <= 1 + 1e-9);
        QVERIFY2(std::abs(map->value(t, s) - v) < 1e-9, qPrintable(QString("cell %1,%2").arg(t).arg(s)));
      }
    }
    map->replot();
    QCOMPARE(map->visibleLabelCount(), rows * cols);  // 10 x 6 cells are large enough at 1280x800
  }

  void dataThatDoesNotFitShowsErrorAndKeepsCurves() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    saveShot(&page, "layers-empty");
    analyse(page);
    const int n = plotOf(page)->layerCount();
    QSignalSpy failed(&page, &LayersPage::failed);
    session->setDataset(std::make_shared<const kd::Dataset>(synthetic(3, 4)), "synthetic rgb");
    QVERIFY(plotOf(page)->isStale());
    page.runAnalysis(2);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY(!page.isBusy());
    QVERIFY2(page.lastError().contains("3x28x28"), qPrintable(page.lastError()));
    QCOMPARE(plotOf(page)->layerCount(), n);
    QCOMPARE(plotOf(page)->curve(QualityPlot::kQuality)->dataCount(), n);
    QVERIFY(session->analysis() == nullptr);
    saveShot(&page, "layers-error");
    // Back to data that fits: the error goes away.
    session->setDataset(data_, "fashion-mnist (slice)");
    analyse(page);
    QVERIFY(page.lastError().isEmpty());
    QVERIFY(!plotOf(page)->isStale());
  }

  void cancelKeepsPreviousResults() {
    auto session = makeSession();
    LayersPage page(session.get());
    analyse(page);
    const auto before = session->analysis();
    const double q0 = plotOf(page)->curve(QualityPlot::kQuality)->data()->at(0)->value;
    QSignalSpy done(&page, &LayersPage::analysisFinished);
    page.runAnalysis(kTrainPerClass);  // other settings: not in the cache
    QVERIFY(page.isBusy());
    page.cancel();
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), kTimeoutMs);
    QCOMPARE(done.count(), 0);
    QVERIFY(session->analysis() == before);
    QCOMPARE(plotOf(page)->curve(QualityPlot::kQuality)->data()->at(0)->value, q0);
    QVERIFY(page.lastError().isEmpty());
  }

  void secondAnalysisComesFromTheCache() {
    QTemporaryDir dir;
    qputenv("KDSTUDIO_CACHE_DIR", dir.path().toUtf8());
    auto session = makeSession();
    LayersPage page(session.get());
    analyse(page, 3);
    QVERIFY(!session->analysis()->from_cache);
    const auto first = session->analysis();
    QCOMPARE(QDir(dir.path() + "/analysis").entryList({"*.json"}).size(), 1);
    session->setDataset(data_, "fashion-mnist (slice)");  // forgets the analysis
    QVERIFY(session->analysis() == nullptr);
    analyse(page, 3);
    QVERIFY(session->analysis()->from_cache);
    QCOMPARE(session->analysis()->recommended, first->recommended);
    QCOMPARE(session->analysis()->layers.back().scores.quality, first->layers.back().scores.quality);
    qputenv("KDSTUDIO_CACHE_DIR", cacheDir_.path().toUtf8());
  }

  void staleResultIsDropped() {
    auto session = makeSession();
    LayersPage page(session.get());
    QSignalSpy done(&page, &LayersPage::analysisFinished);
    page.runAnalysis(kTrainPerClass - 1);
    QVERIFY(page.isBusy());
    session->setTeacher(student_);  // the user loaded another teacher meanwhile
    QVERIFY(!page.isBusy());
    QTest::qWait(1500);
    QCOMPARE(done.count(), 0);
    QVERIFY(session->analysis() == nullptr);
    QCOMPARE(page.findChild<kd::ui::LayerMappingView*>()->teacherBox(5).isEmpty(), false);
    QVERIFY(page.findChild<kd::ui::LayerMappingView*>()->teacherBox(6).isEmpty());  // 6 layers now
  }

  void screenshot() {
    auto session = makeSession();
    LayersPage page(session.get());
    page.resize(1280, 800);
    page.show();
    analyse(page);
    page.takeRecommendation();
    QSignalSpy done(&page, &LayersPage::ckaFinished);
    page.runCka(kCkaPerClass);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    QTest::qWait(100);
    saveShot(&page, "layers-full");
    const QString out = qEnvironmentVariable("KD_LAYERS_SHOT");
    if (!out.isEmpty()) page.grab().save(out);
  }
};

QTEST_MAIN(TestLayersPage)
#include "test_layers_page.moc"
