// The Training page, offscreen, on a 300 + 100 image copy of Fashion-MNIST (IDX files written at
// start) with the bundled teacher and the default student: a short run reports the number of
// loss and accuracy points the epochs and log_every imply and shows result.json's accuracy;
// pause holds the step count; stop leaves a checkpoint and Start resumes from it; invalid
// settings are refused with a message; the form round-trips a config; teacher mode trains the
// teacher and hands back its file; a failure is reported once and leaves the page usable.
// Set KD_SCREENSHOT_DIR to also save a PNG of the page.
#include <qcustomplot.h>
#include <torch/torch.h>

#include <QElapsedTimer>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest/QtTest>
#include <memory>

#include "analysis/layer_analyzer.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "experiment/experiment_setup.h"
#include "models/bundled_models.h"
#include "models/model_loader.h"
#include "shell/session.h"
#include "idx_subset.h"
#include "test_util.h"
#include "pages/student_geometry_panel.h"
#include "pages/training_page.h"
#include "plots/live_plot.h"
#include "plots/scatter_plot.h"
#include "tracking/geometry_log.h"

using kd::ExperimentConfig;
using kd::Method;
using kd::ui::Session;
using kd::ui::TrainingPage;

namespace {

constexpr int kTimeoutMs = 60000;   // generous: CI machines are slow
constexpr int kTrainPerClass = 20;  // 200 images: 10 batches of 20 per epoch
constexpr int kBatch = 20;
constexpr int kLogEvery = 3;  // reports after batches 3, 6, 9 and 10 (the epoch's last)
constexpr int kReportsPerEpoch = 4;
/// An untrained zoo teacher small enough to train in a second (10 generalized layers).
constexpr const char* kSmallTeacher = "resnet18:channels=1,size=28,width=0.125";

void saveShot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
  if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
}

/// The form's share of a config: what applyConfig shows and currentConfig gives back.
std::string formFields(ExperimentConfig c) {
  c.dataset.clear();
  c.teacher.clear();
  c.student.clear();
  c.teacher_layers.reset();
  c.student_layers.reset();
  c.num_layers = 4;
  c.track_geometry = false;  // an app preference (Track geometry), on unless turned off
  return kd::experiment_to_json(c);
}

}  // namespace

class TestTrainingPage : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir cacheDir_;
  QTemporaryDir dataDir_;
  QString dataSpec_;
  std::shared_ptr<const kd::Dataset> data_;
  std::shared_ptr<kd::LoadedModel> teacher_, student_;

  /// A session with the bundled teacher, the default student and the small data.
  void fill(Session& s, bool withTeacher = true) {
    if (withTeacher) s.setTeacher(teacher_);
    s.setStudent(student_);
    s.setDataset(data_, dataSpec_);
  }

  /// Short CPU settings on the small data.
  static ExperimentConfig tiny(int epochs, Method method = Method::kOurs) {
    ExperimentConfig c;
    c.method = method;
    c.train_per_class = kTrainPerClass;
    c.test_per_class = 10;
    c.batch_size = kBatch;
    c.epochs = epochs;
    c.seeds = 1;
    c.device = "cpu";
    c.analysis_per_class = 5;
    c.log_every = kLogEvery;
    return c;
  }

  /// Waits until the page's loss point count stays put for `quietMs`.
  static int settledLossPoints(const TrainingPage& page, int quietMs) {
    int last = -1;
    while (page.lossPoints() != last) {
      last = page.lossPoints();
      QTest::qWait(quietMs);
    }
    return last;
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_training_page");
    QVERIFY(cacheDir_.isValid());
    QVERIFY(dataDir_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", cacheDir_.path().toUtf8());
    torch::set_num_threads(2);
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string dir = dataDir_.path().toStdString();
    kdtest::write_idx_subset(full.train, 30, dir, "train");
    kdtest::write_idx_subset(full.test, 10, dir, "t10k");
    dataSpec_ = QString::fromStdString("fashion-mnist:" + dir);
    data_ = std::make_shared<const kd::Dataset>(kd::load_dataset(dataSpec_.toStdString()));
    const std::string bundled = kd::bundled_teacher_path();
    QVERIFY2(!bundled.empty(), "the bundled teacher is missing");
    teacher_ = std::make_shared<kd::LoadedModel>(kd::load_model(bundled));
    student_ = std::make_shared<kd::LoadedModel>(kd::load_model(kd::kDefaultStudentSpec));
  }

  void defaultsDescribeTheDemo() {
    Session session;
    fill(session);
    TrainingPage page(&session);
    const ExperimentConfig c = page.currentConfig();
    QCOMPARE(c.method, Method::kOurs);
    QCOMPARE(c.epochs, kd::kDemoEpochs);  // the demo's budget, the same as kdstudio-cli demo's
    QCOMPARE(c.seeds, 1);
    QCOMPARE(c.train_per_class, kd::kDemoPerClass);
    QVERIFY(c.track_geometry);  // on by default in the app
    QCOMPARE(c.test_per_class, int64_t{0});
    QCOMPARE(c.teacher, teacher_->source);
    QCOMPARE(c.student, std::string(kd::kDefaultStudentSpec));
    QCOMPARE(c.dataset, dataSpec_.toStdString());
    QVERIFY(!c.teacher_layers && !c.student_layers);  // the engine's default: Q, standard
    session.setTeacherLayers({2, 4, 6, 8});
    const ExperimentConfig chosen = page.currentConfig();
    QVERIFY(chosen.teacher_layers.has_value());
    QCOMPARE(chosen.teacher_layers->indices, (std::vector<int>{2, 4, 6, 8}));
    QVERIFY(!chosen.student_layers);
    QVERIFY(page.findChild<QLabel*>("trainingSummary")->text().contains("[2, 4, 6, 8]"));
    QVERIFY(!page.isRunning());
  }

  // Without chosen layers, "ours" trains at the top layers by Q of the analysis the Layers page
  // ran (not a second, smaller analysis inside the run); other methods keep their standard layers.
  void layersPageAnalysisPicksTheTeacherLayers() {
    Session session;
    fill(session);
    TrainingPage page(&session);
    auto analysis = std::make_shared<kd::AnalysisResult>();
    // Q per layer 0..8: the top three are layers 7, 2 and 5 (0.9, 0.8, 0.7); layers 4 and 8 tie
    // for the fourth place at 0.6 and the tie goes to the shallower. In depth order: [2, 4, 5, 7].
    const double q[] = {0.1, 0.2, 0.8, 0.3, 0.6, 0.7, 0.05, 0.9, 0.6};
    for (double v : q) {
      kd::LayerAnalysis l;
      l.scores.quality = v;
      analysis->layers.push_back(l);
    }
    session.setAnalysis(analysis);
    ExperimentConfig c = page.currentConfig();
    QCOMPARE(c.method, Method::kOurs);
    QCOMPARE(c.num_layers, 4);
    QVERIFY(c.teacher_layers.has_value());
    QCOMPARE(int(c.teacher_layers->kind), int(kd::LayerChoice::Kind::kExplicit));
    QCOMPARE(c.teacher_layers->indices, (std::vector<int>{2, 4, 5, 7}));
    QVERIFY(!c.student_layers);  // the student keeps its standard layers
    const QString summary = page.findChild<QLabel*>("trainingSummary")->text();
    QVERIFY2(summary.contains("[2, 4, 5, 7]") && summary.contains("analysis"), qPrintable(summary));
    // Layers the user clicked win over the analysis.
    session.setTeacherLayers({1, 3});
    c = page.currentConfig();
    QCOMPARE(c.teacher_layers->indices, (std::vector<int>{1, 3}));
    session.setTeacherLayers({});
    // A method that does not rank by Q is not affected.
    ExperimentConfig fitnets = tiny(1, Method::kFitNets);
    page.applyConfig(fitnets);
    QVERIFY(!page.currentConfig().teacher_layers);
    page.applyConfig(tiny(1, Method::kOurs));
    QVERIFY(page.currentConfig().teacher_layers.has_value());
    // A new teacher drops the analysis, and with it the choice.
    session.setTeacher(teacher_);
    QVERIFY(!page.currentConfig().teacher_layers);
  }

  void configRoundTrip_data() {
    QTest::addColumn<bool>("custom");
    QTest::newRow("defaults") << false;
    QTest::newRow("every field changed") << true;
  }

  void configRoundTrip() {
    QFETCH(bool, custom);
    Session session;
    fill(session);
    TrainingPage page(&session);
    ExperimentConfig c = page.currentConfig();
    if (custom) {
      c.method = Method::kFitNets;
      c.projector = "ThreeLayerConv";
      c.temperature = 2.5;
      c.ce_weight = 0.5;
      c.kd_weight = 2;
      c.feature_weight = 3.25;
      c.optimizer = "sgd";
      c.lr = 0.02;
      c.weight_decay = 1e-4;
      c.schedule = "multistep";
      c.epochs = 7;
      c.batch_size = 64;
      c.seeds = 2;
      c.seed = 5;
      c.train_per_class = 100;
      c.test_per_class = 20;
      c.analysis_per_class = 50;
      c.augment = true;
      c.device = "cpu";
      c.teacher_cache = "memory";
      c.name = "round-trip";
      c.momentum = 0.8;  // not on the form: kept from the applied config
      c.log_every = 7;
      page.applyConfig(c);
      QCOMPARE(formFields(page.currentConfig()), formFields(c));
    }
    const ExperimentConfig before = page.currentConfig();
    page.applyConfig(before);
    QCOMPARE(kd::experiment_to_json(page.currentConfig()), kd::experiment_to_json(before));
  }

  void invalidSettingsDoNotStart_data() {
    QTest::addColumn<bool>("teacher");
    QTest::addColumn<bool>("student");
    QTest::addColumn<QVector<int>>("teacherLayers");
    QTest::addColumn<QVector<int>>("studentLayers");
    QTest::addColumn<QString>("message");
    QTest::newRow("method needs a teacher")
        << false << true << QVector<int>{} << QVector<int>{} << "needs a teacher";
    QTest::newRow("no student") << true << false << QVector<int>{} << QVector<int>{}
                                << "student on the Models page";
    QTest::newRow("layer counts differ")
        << true << true << QVector<int>{2, 4, 6} << QVector<int>{1, 2} << "paired one-to-one";
  }

  void invalidSettingsDoNotStart() {
    QFETCH(bool, teacher);
    QFETCH(bool, student);
    QFETCH(QVector<int>, teacherLayers);
    QFETCH(QVector<int>, studentLayers);
    QFETCH(QString, message);
    QTemporaryDir runs;
    Session session;
    if (teacher) session.setTeacher(teacher_);
    if (student) session.setStudent(student_);
    session.setDataset(data_, dataSpec_);
    session.setTeacherLayers(teacherLayers);
    session.setStudentLayers(studentLayers);
    TrainingPage page(&session);
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(1, Method::kOurs));
    QSignalSpy started(&page, &TrainingPage::started);
    page.start();
    QVERIFY(!page.isRunning());
    QVERIFY2(page.lastError().contains(message), qPrintable(page.lastError()));
    QVERIFY(!page.findChild<QLabel*>("trainingError")->isHidden());
    QTest::qWait(200);
    QCOMPARE(started.count(), 0);
    QVERIFY(QDir(runs.path()).isEmpty());
  }

  void shortRunReportsEveryPoint() {
    QTemporaryDir runs;
    Session session;
    fill(session);  // teacher layers unset: ranked by Q
    TrainingPage page(&session);
    page.resize(1280, 800);
    page.show();
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(2));
    QSignalSpy started(&page, &TrainingPage::started);
    QSignalSpy finished(&page, &TrainingPage::finished);
    QSignalSpy failed(&page, &TrainingPage::failed);
    page.start();
    QVERIFY(page.isRunning());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QCOMPARE(failed.count(), 0);
    QCOMPARE(started.count(), 1);
    const QString runDir = started.first().at(0).toString();
    QCOMPARE(finished.first().at(0).toString(), runDir);
    QVERIFY(finished.first().at(1).toBool());
    QVERIFY(!page.isRunning());
    QCOMPARE(page.lossPoints(), 2 * kReportsPerEpoch);
    QCOMPARE(page.testAccuracyPoints(), 2);
    // Losses of ours: CE on the head, the feature loss, the total and the test CE.
    QCOMPARE(page.lossPlot()->graphCount(), 4);
    QCOMPARE(page.lrPlot()->graph(0)->dataCount(), 2 * kReportsPerEpoch);
    QCOMPARE(page.accuracyPlot()->graphCount(), 2);
    const kd::ExperimentResult result = kd::read_result(runDir.toStdString());
    QVERIFY(result.complete);
    QCPGraph* test = page.accuracyPlot()->graph(1);
    QCOMPARE(test->dataCount(), 2);
    QCOMPARE(test->data()->at(1)->key, 2.0);
    QCOMPARE(test->data()->at(1)->value, result.seeds.at(0).last_test_acc);
    const QString shown = page.findChild<QLabel*>("trainingResult")->text();
    QVERIFY2(shown.contains(QString::number(result.last_test_acc_mean, 'f', 2)), qPrintable(shown));
    QTest::qWait(100);  // let the queued replots draw
    saveShot(&page, "training");
    // Geometry tracking is on by default in the app: the panel received every snapshot live
    // (before training and after each epoch), the same the run folder's geometry.jsonl holds.
    kd::ui::StudentGeometryPanel* geometry = page.geometryPanel();
    QCOMPARE(geometry->snapshotCount(), 3);
    const kd::GeometryLog log = kd::read_geometry_log(runDir.toStdString() + "/seed-0/geometry.jsonl");
    QCOMPARE(int(log.snapshots.size()), 3);
    QCOMPARE(geometry->pairCount(), int(log.probe.pairs.size()));
    QCOMPARE(geometry->currentSnapshot(), 2);  // it follows the newest
    QCOMPARE(geometry->ckaPlot()->graph(0)->data()->at(2)->value, log.snapshots[2].pairs[0].cka);
    QCOMPARE(geometry->scatter()->pointAt(0).x(), double(log.snapshots[2].pairs[0].coords[0]));
    page.showView(1);
    QTest::qWait(100);
    saveShot(&page, "training-geometry");
  }

  // Processes = 2: the app is rank 0 and a kdstudio-cli process rank 1 (data parallelism over
  // Gloo); the page shows the run as usual and rank 0 writes one run folder.
  void twoProcessesTrainOneRun() {
    qputenv("PATH", QFileInfo(QStringLiteral(KD_CLI_PATH)).absolutePath().toUtf8() + ":" + qgetenv("PATH"));
    QTemporaryDir runs;
    Session session;
    fill(session);
    TrainingPage page(&session);
    page.resize(1280, 800);
    page.show();
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(2));
    auto* processes = page.findChild<QSpinBox*>("processes");
    QVERIFY(processes);
    processes->setValue(2);
    QSignalSpy started(&page, &TrainingPage::started);
    QSignalSpy finished(&page, &TrainingPage::finished);
    QSignalSpy failed(&page, &TrainingPage::failed);
    page.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count() + failed.count(), 1, kTimeoutMs);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(0).toString()));
    const QString runDir = started.first().at(0).toString();
    QCOMPARE(page.lossPoints(), 2 * kReportsPerEpoch);
    QCOMPARE(page.testAccuracyPoints(), 2);
    const QJsonObject result = QJsonDocument::fromJson([&] {
      QFile f(runDir + "/result.json");
      return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }()).object();
    QCOMPARE(result.value("processes").toInt(), 2);
    QVERIFY(result.value("complete").toBool());
    QCOMPARE(processes->value(), 2);
    QTest::qWait(100);  // let the queued replots draw
    saveShot(&page, "training-processes");
  }

  // A report after every step (many per 40 ms) still redraws the plots at most once per
  // coalescing interval (40 ms: 25 redraws a second), and every point arrives.
  void redrawsAreCoalesced() {
    QTemporaryDir runs;
    Session session;
    fill(session);
    session.setTeacherLayers({2, 4, 6, 8});  // no analysis: the run is all training steps
    TrainingPage page(&session);
    page.show();
    page.setRunsRoot(runs.path());
    ExperimentConfig c = tiny(1);
    c.batch_size = 2;
    c.log_every = 1;
    page.applyConfig(c);
    int replots = 0;
    connect(page.lossPlot(), &QCustomPlot::afterReplot, &page, [&replots] { ++replots; });
    QSignalSpy finished(&page, &TrainingPage::finished);
    QElapsedTimer clock;
    clock.start();
    page.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    const qint64 elapsedMs = clock.elapsed();
    const int steps = 10 * kTrainPerClass / 2;
    QCOMPARE(page.lossPoints(), steps);
    // + 5: the redraws of showing the page, clearing it at the start and the final flush.
    QVERIFY2(replots >= 1 && replots <= elapsedMs / 40 + 5,
             qPrintable(QString("%1 redraws for %2 reports in %3 ms").arg(replots).arg(steps).arg(elapsedMs)));
    qInfo("%d redraws for %d reports in %lld ms", replots, steps, static_cast<long long>(elapsedMs));
  }

  void pauseHoldsTheStepCount() {
    QTemporaryDir runs;
    Session session;
    fill(session);
    session.setTeacherLayers({2, 4, 6, 8});
    TrainingPage page(&session);
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(6));
    QSignalSpy finished(&page, &TrainingPage::finished);
    page.start();
    QTRY_VERIFY_WITH_TIMEOUT(page.lossPoints() > 0, kTimeoutMs);
    page.pause();
    QVERIFY(page.isPaused());
    QVERIFY(page.findChild<QLabel*>("trainingStatus")->text().contains("Paused"));
    const int held = settledLossPoints(page, 400);  // the batch under way may still report
    QTest::qWait(1500);
    QCOMPARE(page.lossPoints(), held);
    QCOMPARE(finished.count(), 0);
    QVERIFY(held < 6 * kReportsPerEpoch);
    page.resume();
    QVERIFY(!page.isPaused());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QVERIFY(finished.first().at(1).toBool());
    QCOMPARE(page.lossPoints(), 6 * kReportsPerEpoch);
    QCOMPARE(page.testAccuracyPoints(), 6);
  }

  void stopKeepsACheckpointAndStartResumes() {
    QTemporaryDir runs;
    Session session;
    fill(session);
    session.setTeacherLayers({2, 4, 6, 8});
    TrainingPage page(&session);
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(6, Method::kFitNets));
    QSignalSpy started(&page, &TrainingPage::started);
    QSignalSpy finished(&page, &TrainingPage::finished);
    page.start();
    QTRY_VERIFY_WITH_TIMEOUT(page.testAccuracyPoints() >= 1, kTimeoutMs);
    page.stop();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QVERIFY(!finished.first().at(1).toBool());
    QVERIFY(!page.isRunning());
    QVERIFY(page.lastError().isEmpty());
    const QString runDir = started.first().at(0).toString();
    QVERIFY(QFileInfo::exists(runDir + "/seed-0/checkpoint.safetensors"));
    QVERIFY(page.findChild<QLabel*>("trainingStatus")->text().contains("resume"));
    QVERIFY(page.testAccuracyPoints() < 6);

    page.start();  // the same settings: the run continues
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kTimeoutMs);
    QCOMPARE(started.at(1).at(0).toString(), runDir);
    QVERIFY(finished.at(1).at(1).toBool());
    // The epochs before the stop come back from the run folder's metrics.
    QCOMPARE(page.testAccuracyPoints(), 6);
    QCOMPARE(page.lossPoints(), 6 * kReportsPerEpoch);
    QCOMPARE(page.accuracyPlot()->graph(1)->dataCount(), 6);
    QVERIFY(kd::read_result(runDir.toStdString()).complete);
  }

  void teacherModeTrainsTheTeacher() {
    QTemporaryDir runs;
    Session session;
    session.setTeacher(std::make_shared<kd::LoadedModel>(kd::load_model(kSmallTeacher)));
    session.setDataset(data_, dataSpec_);
    TrainingPage page(&session);
    page.setRunsRoot(runs.path());
    page.applyConfig(tiny(1));
    page.setTeacherMode(true);
    QVERIFY(page.teacherMode());
    const ExperimentConfig c = page.currentConfig();
    QCOMPARE(c.method, Method::kStudent);
    QCOMPARE(c.student, std::string(kSmallTeacher));
    QVERIFY(c.teacher.empty());
    QVERIFY(page.findChild<QLabel*>("trainingSummary")->text().contains("Teacher"));
    QSignalSpy trained(&page, &TrainingPage::teacherTrained);
    QSignalSpy finished(&page, &TrainingPage::finished);
    page.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QVERIFY(finished.first().at(1).toBool());
    QCOMPARE(trained.count(), 1);
    const QString path = trained.first().at(0).toString();
    QCOMPARE(path, finished.first().at(0).toString() + "/seed-0/student.kdmodel");
    QVERIFY(QFileInfo::exists(path));
    QCOMPARE(kd::load_model(path.toStdString()).model->num_layers(), 10);
    // Only CE: the loss plot has CE, the total and the test CE.
    QCOMPARE(page.lossPlot()->graphCount(), 3);
    page.setTeacherMode(false);
    QCOMPARE(page.currentConfig().method, Method::kOurs);
  }

  void failureIsReportedOnce_data() {
    QTest::addColumn<bool>("missingData");
    QTest::addColumn<QString>("message");
    QTest::addColumn<bool>("keepsFolder");
    QTest::newRow("missing data") << true << "missing" << false;
    QTest::newRow("diverging learning rate") << false << "lower learning rate" << true;
  }

  void failureIsReportedOnce() {
    QFETCH(bool, missingData);
    QFETCH(QString, message);
    QFETCH(bool, keepsFolder);
    QTemporaryDir runs;
    Session session;
    fill(session);
    if (missingData) session.setDataset(nullptr, "idx:" + runs.path() + "/missing");
    TrainingPage page(&session);
    page.setRunsRoot(runs.path());
    ExperimentConfig c = tiny(2, Method::kKD);
    if (!missingData) c.lr = 1e12;  // NaN or Inf within an epoch
    page.applyConfig(c);
    QSignalSpy failed(&page, &TrainingPage::failed);
    QSignalSpy finished(&page, &TrainingPage::finished);
    page.start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QCOMPARE(failed.count(), 1);
    QVERIFY(!finished.first().at(1).toBool());
    QVERIFY(!page.isRunning());
    QVERIFY2(page.lastError().contains(message), qPrintable(page.lastError()));
    QVERIFY(!page.findChild<QLabel*>("trainingError")->isHidden());
    QVERIFY(page.findChild<QPushButton*>("startButton")->isEnabled());  // usable again
    const QString runDir = finished.first().at(0).toString();
    QCOMPARE(!runDir.isEmpty() && QFileInfo::exists(runDir + "/resolved.json"), keepsFolder);
  }

  void closingWhileTrainingStopsCleanly() {
    QTemporaryDir runs;
    Session session;
    fill(session);
    session.setTeacherLayers({2, 4, 6, 8});
    auto page = std::make_unique<TrainingPage>(&session);
    page->setRunsRoot(runs.path());
    page->applyConfig(tiny(50));
    QSignalSpy finished(page.get(), &TrainingPage::finished);
    page->start();
    QTRY_VERIFY_WITH_TIMEOUT(page->lossPoints() > 0, kTimeoutMs);
    page->pause();  // a paused run stops too
    QElapsedTimer clock;
    clock.start();
    page->stop();
    QVERIFY(page->waitForStopped(kTimeoutMs));
    QCOMPARE(finished.count(), 1);  // delivered by waitForStopped
    QVERIFY(!page->isRunning());
    page->start();
    QTRY_VERIFY_WITH_TIMEOUT(page->isRunning() && page->lossPoints() > 0, kTimeoutMs);
    page.reset();  // the destructor stops the run and waits
    QVERIFY(clock.elapsed() < kTimeoutMs);
  }
};

QTEST_MAIN(TestTrainingPage)
#include "test_training_page.moc"
