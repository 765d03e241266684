// The student geometry panel (geometry tracking), offscreen: its curves and 2-D view hold the
// snapshots' numbers point for point, the slider scrubs (and a live panel follows the newest
// snapshot only until the user scrubs back), and a finished run opened on the Experiments page
// shows its geometry.jsonl, scrubbable from "before training" to the last epoch.
// Set KD_SCREENSHOT_DIR to also save PNGs.
#include <qcustomplot.h>
#include <torch/torch.h>

#include <QSlider>
#include <QtTest/QtTest>
#include <filesystem>

#include "data/data_spec.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "pages/experiments_page.h"
#include "pages/student_geometry_panel.h"
#include "plots/live_plot.h"
#include "plots/scatter_plot.h"
#include "tracking/geometry_log.h"
#include "idx_subset.h"
#include "test_util.h"

using kd::ui::StudentGeometryPanel;

namespace {

constexpr int kTimeoutMs = 120000;

/// Two pairs, six probe samples of three classes; snapshot k has CKA 0.2 k (pair 0) and
/// coordinates that move with k.
kd::GeometryProbe probe() {
  kd::GeometryProbe p;
  p.num_classes = 3;
  p.n_train = 60;
  p.labels = {0, 0, 1, 1, 2, 2};
  p.class_names = {"cat", "dog", "owl"};
  p.teacher_layers = {"t0", "t1", "t2"};
  for (int i = 0; i < 2; ++i) {
    kd::ProbePair pair;
    pair.teacher_layer = i + 1;
    pair.student_layer = i;
    pair.teacher_name = "t" + std::to_string(i + 1);
    pair.student_name = "s" + std::to_string(i);
    pair.teacher.quality = 0.5 + i;
    for (int s = 0; s < 6; ++s) {
      pair.teacher_coords.push_back(float(s));
      pair.teacher_coords.push_back(float(-s));
    }
    p.pairs.push_back(pair);
  }
  return p;
}

kd::GeometrySnapshot snapshot(int k) {
  kd::GeometrySnapshot s;
  s.epoch = k - 1;
  s.step = 10 * k;
  s.epochs_done = k;
  for (int i = 0; i < 2; ++i) {
    kd::PairSnapshot p;
    p.cka = 0.2 * k + 0.01 * i;
    p.cka_all = {0.1, p.cka, 0.3};
    p.student.quality = 0.1 * k;
    p.ncc = 0.5;
    p.feature_loss = 1.0 / (1 + k);
    for (int n = 0; n < 6; ++n) {
      p.coords.push_back(float(n + k));
      p.coords.push_back(float(i - n));
    }
    s.pairs.push_back(p);
  }
  return s;
}

void saveShot(QWidget* w, const QString& name) {
  const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
  if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
}

}  // namespace

class TestStudentGeometry : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_student_geometry");
    torch::set_num_threads(2);
  }

  void curvesAndViewHoldTheSnapshots() {
    StudentGeometryPanel panel;
    panel.resize(1100, 600);
    panel.show();
    panel.setProbe(probe());
    QCOMPARE(panel.pairCount(), 2);
    for (int k = 0; k < 4; ++k) panel.addSnapshot(snapshot(k));
    QCOMPARE(panel.snapshotCount(), 4);
    QCOMPARE(panel.currentSnapshot(), 3);  // live: the newest
    QCOMPARE(panel.slider()->maximum(), 3);
    QCPGraph* cka0 = panel.ckaPlot()->findSeries("0");
    QCPGraph* cka1 = panel.ckaPlot()->findSeries("1");
    QVERIFY(cka0 && cka1);
    QCOMPARE(cka0->dataCount(), 4);
    for (int k = 0; k < 4; ++k) {
      QCOMPARE(cka0->data()->at(k)->key, double(k));
      QCOMPARE(cka0->data()->at(k)->value, 0.2 * k);
      QCOMPARE(cka1->data()->at(k)->value, 0.2 * k + 0.01);
      QCOMPARE(panel.qualityPlot()->findSeries("0")->data()->at(k)->value, 0.1 * k);
    }
    // The teacher layer's Q as a dashed reference across the epochs.
    QCPGraph* ref = panel.qualityPlot()->findSeries("t1");
    QCOMPARE(ref->pen().style(), Qt::DashLine);
    QCOMPARE(ref->data()->at(0)->value, 1.5);
    QCOMPARE(ref->data()->at(1)->value, 1.5);
    QCOMPARE(ref->data()->at(1)->key, 3.0);
    // The 2-D view: the student's points of the newest snapshot over the teacher's rings.
    kd::ui::ScatterPlot* scatter = panel.scatter();
    QCOMPARE(scatter->pointCount(), 6);
    QCOMPARE(scatter->referenceCount(), 6);
    QCOMPARE(scatter->pointAt(2), QPointF(5, -2));  // n + k, i - n for n = 2, k = 3, pair 0
    QCOMPARE(scatter->labelAt(2), 1);
    QVERIFY2(panel.caption().contains("after epoch 3") && panel.caption().contains("CKA to the teacher layer 0.600"),
             qPrintable(panel.caption()));
    // Axes fixed over every snapshot of the pair: the points are seen to move.
    QVERIFY(scatter->xAxis->range().lower <= 0 && scatter->xAxis->range().upper >= 8);

    // Scrubbing back: the view shows that snapshot and stops following.
    panel.slider()->setValue(0);
    QCOMPARE(panel.currentSnapshot(), 0);
    QCOMPARE(scatter->pointAt(2), QPointF(2, -2));
    QVERIFY2(panel.caption().contains("before training"), qPrintable(panel.caption()));
    panel.addSnapshot(snapshot(4));
    QCOMPARE(panel.currentSnapshot(), 0);
    QCOMPARE(panel.slider()->maximum(), 4);
    panel.slider()->setValue(4);  // back at the newest: it follows again
    panel.addSnapshot(snapshot(5));
    QCOMPARE(panel.currentSnapshot(), 5);
    // The other pair.
    panel.setCurrentPair(1);
    QCOMPARE(scatter->pointAt(2), QPointF(7, -1));
    QVERIFY2(scatter->title().startsWith("T2 → S1"), qPrintable(scatter->title()));
    QCOMPARE(panel.ckaPlot()->findSeries("1")->pen().color(), panel.qualityPlot()->findSeries("1")->pen().color());
    QCOMPARE(panel.qualityPlot()->findSeries("t1")->pen().color(), panel.qualityPlot()->findSeries("1")->pen().color());
    // A new probe (the next seed) starts again.
    panel.setProbe(probe());
    QCOMPARE(panel.snapshotCount(), 0);
    QCOMPARE(scatter->pointCount(), 0);
    // A snapshot of another probe (three pairs) is ignored rather than drawn wrongly.
    kd::GeometrySnapshot odd = snapshot(1);
    odd.pairs.push_back(odd.pairs[0]);
    panel.addSnapshot(odd);
    QCOMPARE(panel.snapshotCount(), 0);
  }

  void experimentsPageScrubsAFinishedRun() {
    QTemporaryDir data, runs, cache;
    qputenv("KDSTUDIO_CACHE_DIR", cache.path().toUtf8());
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    kdtest::write_idx_subset(full.train, 20, data.path().toStdString(), "train");
    kdtest::write_idx_subset(full.test, 5, data.path().toStdString(), "t10k");
    kd::ExperimentConfig c;
    c.name = "tracked";
    c.dataset = "fashion-mnist:" + data.path().toStdString();
    c.student = "resnet9:channels=1,size=28,width=0.125";
    c.teacher = "resnet18:channels=1,size=28,width=0.125";
    c.teacher_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {2, 4}, {}};
    c.student_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {1, 3}, {}};
    c.epochs = 2;
    c.batch_size = 50;
    c.seeds = 1;
    c.device = "cpu";
    c.track_geometry = true;
    auto runner = kd::ExperimentRunner::create(c, "", runs.path().toStdString());
    runner->run();
    const kd::GeometryLog log = kd::read_geometry_log(runner->run_dir() + "/seed-0/geometry.jsonl");
    QCOMPARE(int(log.snapshots.size()), 3);
    QCOMPARE(log.probe.class_names.front(), full.class_names.front());

    kd::ui::ExperimentsPage page;
    page.resize(1280, 860);
    page.show();
    page.setRunsRoot(runs.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 1, kTimeoutMs);
    page.selectRows({0});
    page.showRunView(1);
    StudentGeometryPanel* panel = page.geometryPanel();
    QTRY_COMPARE_WITH_TIMEOUT(panel->snapshotCount(), 3, kTimeoutMs);
    QCOMPARE(panel->currentSnapshot(), 2);
    QCOMPARE(panel->pairCount(), 2);
    QCOMPARE(panel->scatter()->pointCount(), int(log.probe.labels.size()));
    panel->slider()->setValue(0);
    QVERIFY(panel->caption().contains("before training"));
    for (int i : {0, 17, int(log.probe.labels.size()) - 1}) {
      const auto& xy = log.snapshots[0].pairs[0].coords;
      QCOMPARE(panel->scatter()->pointAt(i), QPointF(xy[2 * size_t(i)], xy[2 * size_t(i) + 1]));
    }
    panel->slider()->setValue(2);
    saveShot(&page, "experiments-geometry");
  }
};

QTEST_MAIN(TestStudentGeometry)
#include "test_student_geometry.moc"
