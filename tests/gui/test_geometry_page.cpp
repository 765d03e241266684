// The Geometry page, offscreen: the PCA scatter of a teacher layer equals core's projection of
// the same class-balanced sample, per class and point by point; the metrics shown equal core's;
// hovering a point names its class and shows its image; t-SNE runs and cancels without losing
// the scatter shown; errors are shown once and keep the scatter; the layer list follows the
// model side. Set KD_SCREENSHOT_DIR to also save a PNG of the page.
#include <QComboBox>
#include <QLabel>
#include <QMouseEvent>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QtTest/QtTest>
#include <cmath>

#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "data/transforms.h"
#include "jobs/geometry_job.h"
#include "pages/geometry_page.h"
#include "models/bundled_models.h"
#include "models/model_loader.h"
#include "plots/scatter_plot.h"
#include "shell/session.h"

using kd::ui::GeometryPage;
using kd::ui::ScatterPlot;
using Side = GeometryPage::Side;
using Method = GeometryPage::Projection;

class TestGeometryPage : public QObject {
  Q_OBJECT

 private:
  static constexpr int kTimeoutMs = 60000;  // generous: CI machines are slow
  static constexpr int kPerClass = 20;      // points per class in most tests
  static constexpr int kTrainSamples = 2000;  // the small dataset's training split

  std::shared_ptr<kd::LoadedModel> teacher_, student_;
  std::shared_ptr<const kd::Dataset> data_;

  static void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
    if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
  }

  /// The first kTrainSamples of Fashion-MNIST, or random 1x28x28 images with 10 classes where
  /// it is not installed (the page does not care what the pixels are).
  static std::shared_ptr<const kd::Dataset> smallDataset() {
    auto d = std::make_shared<kd::Dataset>();
    try {
      const kd::Dataset full = kd::load_dataset("fashion-mnist");
      d->name = full.name;
      d->class_names = full.class_names;
      d->train = {full.train.images.slice(0, 0, kTrainSamples).clone(),
                  full.train.labels.slice(0, 0, kTrainSamples).clone()};
      d->test = {full.test.images.slice(0, 0, 200).clone(), full.test.labels.slice(0, 0, 200).clone()};
      return d;
    } catch (const kd::Error&) {
      torch::manual_seed(0);
      d->name = "random";
      for (int c = 0; c < 10; ++c) d->class_names.push_back("class " + std::to_string(c));
      d->train = {torch::randint(0, 256, {kTrainSamples, 1, 28, 28}).to(torch::kUInt8),
                  torch::arange(kTrainSamples, torch::kInt64) % 10};
      d->test = d->train;
      return d;
    }
  }

  void fill(kd::ui::Session& s) const {
    s.setTeacher(teacher_);
    s.setStudent(student_);
    s.setDataset(data_, "fashion-mnist (first 2000)");
  }

  /// Features of `layer` of the teacher on the page's sample (seed 0), recomputed by core.
  torch::Tensor features(int layer, int perClass, torch::Tensor* labels) const {
    const auto idx = kd::balanced_subset(data_->train.labels, data_->num_classes(), perClass, 0);
    const torch::Tensor t = torch::tensor(idx, torch::kInt64);
    *labels = data_->train.labels.index_select(0, t);
    return kd::extract_features(*teacher_->model, data_->train.images.index_select(0, t),
                                kd::compute_channel_stats(data_->train), {layer})[0];
  }

  static QString labelText(const GeometryPage& page, const char* name) {
    auto* l = page.findChild<QLabel*>(name);
    return l != nullptr ? l->text() : QStringLiteral("<missing %1>").arg(name);
  }

  static void project(GeometryPage& page, Side side, int layer, Method m, int perClass) {
    QSignalSpy done(&page, &GeometryPage::projectionFinished);
    page.project(side, layer, m, perClass);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
  }

  static void hoverAt(QWidget* plot, const QPointF& pos) {
    QMouseEvent move(QEvent::MouseMove, pos, plot->mapToGlobal(pos), Qt::NoButton, Qt::NoButton,
                     Qt::NoModifier);
    QApplication::sendEvent(plot, &move);
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_geometry_page");
    teacher_ = std::make_shared<kd::LoadedModel>(kd::load_model(kd::bundled_teacher_path()));
    student_ = std::make_shared<kd::LoadedModel>(kd::load_model(kd::kDefaultStudentSpec));
    data_ = smallDataset();
  }

  void pcaMatchesCore_data() {
    QTest::addColumn<int>("layer");
    QTest::newRow("early layer") << 1;
    QTest::newRow("last feature layer") << teacher_->model->head_start() - 1;
  }

  void pcaMatchesCore() {
    QFETCH(int, layer);
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    page.resize(1280, 800);
    page.show();
    project(page, Side::kTeacher, layer, Method::kPca, kPerClass);
    auto* plot = qobject_cast<ScatterPlot*>(page.scatterPlot());
    QVERIFY(plot != nullptr);
    QCOMPARE(page.pointCount(), kPerClass * 10);
    for (int c = 0; c < 10; ++c) QCOMPARE(plot->classPointCount(c), kPerClass);

    torch::Tensor labels;
    const torch::Tensor f = features(layer, kPerClass, &labels);
    const kd::Projection p = kd::pca_projection(f, labels, 10, 2);
    const torch::Tensor coords = p.coords.to(torch::kFloat64);
    const double scale = coords.abs().max().item<double>();
    for (int i = 0; i < page.pointCount(); ++i) {
      QCOMPARE(plot->labelAt(i), static_cast<int>(labels[i].item<int64_t>()));
      const QPointF pt = plot->pointAt(i);
      QVERIFY2(std::abs(pt.x() - coords[i][0].item<double>()) <= 1e-4 * scale, qPrintable(QString::number(i)));
      QVERIFY2(std::abs(pt.y() - coords[i][1].item<double>()) <= 1e-4 * scale, qPrintable(QString::number(i)));
    }
    QCOMPARE(plot->xAxis->label(),
             QString("PC 1 (%1% var)").arg(100.0 * p.explained_variance_ratio[0], 0, 'f', 1));
    QVERIFY(plot->yAxis->label().startsWith("PC 2 ("));
    QCOMPARE(labelText(page, "twonnValue"), QString::number(kd::twonn_dimension(f), 'f', 2));
    QCOMPARE(labelText(page, "pcaIdValue"), QString::number(kd::pca_intrinsic_dimension(f, 0.9)));
    QCOMPARE(labelText(page, "nccValue"),
             QString::number(100.0 * kd::ncc_accuracy(f, labels, 10), 'f', 1) + " %");
    QCOMPARE(labelText(page, "pointsValue"), QString::number(kPerClass * 10));
    QCOMPARE(labelText(page, "featureDimValue"), QString::number(f.size(1)));
    QVERIFY(plot->title().contains(kd::ui::layerLabel(*teacher_->model, layer)));
    QVERIFY(plot->legend->visible());
    QCOMPARE(plot->legend->itemCount(), 10);
    QCOMPARE(qobject_cast<QCPPlottableLegendItem*>(plot->legend->item(3))->plottable()->name(),
             QString::fromStdString(data_->class_names[3]));
  }

  void hoverShowsClassAndImage() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    page.resize(1280, 800);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    project(page, Side::kTeacher, teacher_->model->head_start() - 1, Method::kPca, kPerClass);
    auto* plot = qobject_cast<ScatterPlot*>(page.scatterPlot());
    plot->replot();  // lays out the axes so pixels are final
    // The most isolated point on screen: hovering it cannot pick a neighbour.
    int best = -1;
    double bestGap = -1;
    for (int i = 0; i < plot->pointCount(); ++i) {
      double gap = 1e9;
      for (int j = 0; j < plot->pointCount(); ++j) {
        if (j != i) gap = std::min(gap, QLineF(plot->pixelOf(i), plot->pixelOf(j)).length());
      }
      if (gap > bestGap) {
        bestGap = gap;
        best = i;
      }
    }
    QVERIFY(bestGap > 3);
    const int cls = plot->labelAt(best);
    const QString text = page.hoverText(best);
    QVERIFY2(text.contains(QString::fromStdString(data_->class_names[cls])), qPrintable(text));
    QVERIFY2(text.contains(QString("class %1").arg(cls)), qPrintable(text));
    QCOMPARE(page.hoverText(-1), QString());
    QCOMPARE(page.hoverText(plot->pointCount()), QString());

    hoverAt(plot, plot->pixelOf(best) + QPointF(2, 1));
    QCOMPARE(page.hoveredIndex(), best);
    QCOMPARE(plot->highlighted(), best);
    QCOMPARE(page.findChild<QLabel*>("hoverText")->text(), text);
    const QPixmap shown = page.findChild<QLabel*>("hoverImage")->pixmap();
    QVERIFY(!shown.isNull());
    QCOMPARE(shown.width(), 112);  // 28 px scaled up 4x
    plot->replot();  // draws the ring now (hovering queues the replot)
    saveShot(&page, "geometry");
    // Far from every point (a corner of the axes): nothing is highlighted, the panel stays.
    const QRect area = plot->axisRect()->rect();
    QPointF corner = area.topLeft() + QPointF(1, 1);
    if (plot->nearestPoint(corner) < 0) {
      hoverAt(plot, corner);
      QCOMPARE(plot->highlighted(), -1);
      QCOMPARE(page.findChild<QLabel*>("hoverText")->text(), text);
    }
  }

  void tsneRunsAndCancels() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    page.resize(1280, 800);
    page.show();
    page.setPerplexity(10);
    page.setTsneIterations(250);
    const int layer = teacher_->model->head_start() - 1;
    project(page, Side::kTeacher, layer, Method::kTsne, kPerClass);
    auto* plot = qobject_cast<ScatterPlot*>(page.scatterPlot());
    QCOMPARE(page.pointCount(), kPerClass * 10);
    for (int c = 0; c < 10; ++c) QCOMPARE(plot->classPointCount(c), kPerClass);
    QCOMPARE(plot->xAxis->label(), QString("t-SNE 1"));
    QCOMPARE(plot->yAxis->label(), QString("t-SNE 2"));
    QVERIFY(plot->title().contains("t-SNE"));
    saveShot(&page, "geometry-tsne");
    QVector<QPointF> before;
    for (int i = 0; i < page.pointCount(); ++i) {
      before.append(plot->pointAt(i));
      QVERIFY(std::isfinite(before.back().x()) && std::isfinite(before.back().y()));
    }

    // A long run, cancelled once t-SNE itself runs (after the features, 30% of the bar).
    QSignalSpy done(&page, &GeometryPage::projectionFinished);
    QSignalSpy failed(&page, &GeometryPage::failed);
    page.setTsneIterations(10000);
    page.project(Side::kTeacher, layer, Method::kTsne, 100);
    QVERIFY(page.isBusy());
    auto* bar = page.findChild<QProgressBar*>("geometryProgress");
    QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 320, kTimeoutMs);
    QElapsedTimer clock;
    clock.start();
    page.findChild<QPushButton*>("cancelButton")->click();
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), kTimeoutMs);
    qInfo("t-SNE stopped %lld ms after Cancel", static_cast<long long>(clock.elapsed()));
    QTest::qWait(100);
    QCOMPARE(done.count(), 0);
    QCOMPARE(failed.count(), 0);
    QCOMPARE(page.pointCount(), kPerClass * 10);
    for (int i = 0; i < page.pointCount(); ++i) QCOMPARE(plot->pointAt(i), before[i]);
    QCOMPARE(plot->xAxis->label(), QString("t-SNE 1"));
  }

  void errorsKeepScatter() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    page.resize(1280, 800);
    page.show();
    project(page, Side::kTeacher, 2, Method::kPca, 10);
    auto* plot = qobject_cast<ScatterPlot*>(page.scatterPlot());
    const QPointF first = plot->pointAt(0);
    const QString title = plot->title();
    QSignalSpy failed(&page, &GeometryPage::failed);
    QSignalSpy done(&page, &GeometryPage::projectionFinished);

    page.project(Side::kTeacher, 999, Method::kPca, 10);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(page.lastError().contains("out of range"), qPrintable(page.lastError()));
    QVERIFY(page.findChild<QLabel*>("geometryError")->isVisible());
    QCOMPARE(page.findChild<QLabel*>("geometryError")->text(), page.lastError());
    QCOMPARE(page.pointCount(), 100);
    QCOMPARE(plot->pointAt(0), first);
    QCOMPARE(plot->title(), title);

    // A student that takes 3x32x32 images does not fit Fashion-MNIST; the teacher's scatter stays.
    session.setStudent(std::make_shared<kd::LoadedModel>(
        kd::load_model("resnet9:channels=3,size=32,width=0.125")));
    QCOMPARE(page.pointCount(), 100);
    page.project(Side::kStudent, 0, Method::kPca, 10);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 2, kTimeoutMs);
    QVERIFY2(page.lastError().contains("3x32x32"), qPrintable(page.lastError()));
    QCOMPARE(page.pointCount(), 100);
    QCOMPARE(plot->title(), title);
    QCOMPARE(done.count(), 0);

    // No model at all: said at once, nothing runs.
    kd::ui::Session empty;
    GeometryPage bare(&empty);
    QSignalSpy bareFailed(&bare, &GeometryPage::failed);
    bare.project(Side::kTeacher, 0, Method::kPca);
    QCOMPARE(bareFailed.count(), 1);
    QVERIFY(!bare.isBusy());
    QVERIFY(bare.lastError().contains("Models page"));

    // A success clears the error.
    project(page, Side::kTeacher, 3, Method::kPca, 10);
    QVERIFY(page.lastError().isEmpty());
    QVERIFY(!page.findChild<QLabel*>("geometryError")->isVisible());
  }

  void mismatchedDatasetShowsError() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    project(page, Side::kTeacher, 2, Method::kPca, 5);
    QCOMPARE(page.pointCount(), 50);
    auto colour = std::make_shared<kd::Dataset>();
    colour->class_names = data_->class_names;
    colour->train = {torch::zeros({40, 3, 32, 32}, torch::kUInt8), torch::arange(40) % 10};
    colour->test = colour->train;
    session.setDataset(colour, "colour");
    QCOMPARE(page.pointCount(), 0);  // the scatter was of another dataset
    QSignalSpy failed(&page, &GeometryPage::failed);
    page.project(Side::kTeacher, 2, Method::kPca, 5);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(page.lastError().contains("1x28x28"), qPrintable(page.lastError()));
    QVERIFY(!page.isBusy());
  }

  void newerRequestReplacesOlder() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    QSignalSpy done(&page, &GeometryPage::projectionFinished);
    page.project(Side::kTeacher, 1, Method::kPca, 10);
    page.project(Side::kTeacher, 4, Method::kPca, 10);  // the user changed their mind
    QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy() && done.count() >= 1, kTimeoutMs);
    QTest::qWait(200);
    QCOMPARE(done.count(), 1);
    QVERIFY(page.scatterPlot() != nullptr);
    QVERIFY(qobject_cast<ScatterPlot*>(page.scatterPlot())
                ->title()
                .contains(kd::ui::layerLabel(*teacher_->model, 4)));
  }

  void layerListFollowsSide() {
    kd::ui::Session session;
    fill(session);
    GeometryPage page(&session);
    auto* side = page.findChild<QComboBox*>("sideCombo");
    auto* layers = page.findChild<QComboBox*>("layerCombo");
    QCOMPARE(layers->count(), teacher_->model->num_layers());
    side->setCurrentIndex(1);
    QCOMPARE(layers->count(), student_->model->num_layers());
    QCOMPARE(layers->count(), 6);
    for (int i = 0; i < layers->count(); ++i) {
      QCOMPARE(layers->itemText(i), kd::ui::layerLabel(*student_->model, i));
      QVERIFY(layers->itemText(i).startsWith(QString("%1: ").arg(i)));
    }
    // Project from the controls: the student's chosen layer.
    layers->setCurrentIndex(2);
    QSignalSpy done(&page, &GeometryPage::projectionFinished);
    page.findChild<QSpinBox*>("perClassSpin")->setValue(5);
    page.findChild<QPushButton*>("projectButton")->click();
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    auto* plot = qobject_cast<ScatterPlot*>(page.scatterPlot());
    QVERIFY2(plot->title().startsWith("Student"), qPrintable(plot->title()));
    QVERIFY(plot->title().contains(kd::ui::layerLabel(*student_->model, 2)));
    QCOMPARE(page.pointCount(), 50);
    // A new student refills the list and clears its stale scatter.
    session.setStudent(std::make_shared<kd::LoadedModel>(
        kd::load_model("vgg11_bn:channels=1,size=28,width=0.125")));
    QCOMPARE(layers->count(), 11);
    QCOMPARE(page.pointCount(), 0);
    side->setCurrentIndex(0);
    QCOMPARE(layers->count(), teacher_->model->num_layers());
  }
};

QTEST_MAIN(TestGeometryPage)
#include "test_geometry_page.moc"
