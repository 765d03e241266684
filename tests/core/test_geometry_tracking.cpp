// Geometry tracking (docs/geometry-tracking.md): every tracked value equals what the analysis
// functions give on the same probe sample, computed here by other routes where there are some
// (linear_cka's feature form against the tracker's Gram route, an SVD for the principal axes);
// tracking leaves the training numbers exactly as they are; geometry.jsonl holds the probe and
// one snapshot per epoch (and per N steps), survives a resume without duplicates, and reads back
// what the observer received; methods without projected pairs are skipped with a note; a
// damaged log names its line.
#include <QtTest/QtTest>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "analysis/cka_matrix.h"
#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "analysis/knowledge_quality.h"
#include "common/error.h"
#include "distill/distill_objective.h"
#include "distill/losses.h"
#include "distill/teacher_targets.h"
#include "distill/trainer.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_setup.h"
#include "models/zoo/zoo_builder.h"
#include "tracking/geometry_tracker.h"
#include "fashion_data.h"
#include "test_util.h"

namespace {

using kdtest::contains;
using kdtest::error_of;

std::unique_ptr<kd::zoo::ZooModel> tiny(uint64_t seed) { return kdtest::tiny_resnet9(seed); }

bool close(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(1.0, std::max(std::abs(a), std::abs(b)));
}

kd::TrainerSettings ours(int epochs) {
  kd::TrainerSettings s;
  s.objective.method = kd::Method::kOurs;
  s.objective.student_layers = {1, 2, 3};
  s.objective.teacher_layers = {2, 3, 4};
  s.lr = 0.01;
  s.epochs = epochs;
  s.batch_size = 50;
  s.log_every = 5;
  s.loader_workers = 1;
  s.tracking.per_class = 6;
  return s;
}

/// Keeps what a run reports.
class Recorder final : public kd::TrainObserver {
 public:
  explicit Recorder(int stop_after_steps = -1) : left_(stop_after_steps) {}
  void on_step(const kd::StepReport&) override { --left_; }
  void on_epoch(const kd::EpochReport& r) override { epochs.push_back(r); }
  void on_note(const std::string& t) override { notes.push_back(t); }
  void on_geometry_probe(const kd::GeometryProbe& p) override { probes.push_back(p); }
  void on_geometry(const kd::GeometrySnapshot& s) override { snapshots.push_back(s); }
  bool cancelled() const override { return left_ == 0; }
  std::vector<kd::EpochReport> epochs;
  std::vector<std::string> notes;
  std::vector<kd::GeometryProbe> probes;
  std::vector<kd::GeometrySnapshot> snapshots;

 private:
  int left_;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

class TestGeometryTracking : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { torch::set_num_threads(2); }

  void trackedValuesEqualTheAnalysisFunctions() {
    const kd::TrainData data = kdtest::fashion_train_data(30, 5);
    auto teacher = tiny(2);
    auto student = tiny(1);
    teacher->set_training(false);
    kd::ObjectiveSettings o = ours(1).objective;
    torch::manual_seed(5);
    kd::DistillObjective objective(o, *student, teacher.get());
    kd::TrackingSettings ts;
    ts.per_class = 8;
    ts.seed = 3;
    kd::GeometryTracker tracker(ts, *data.train, data.train_indices, data.stats, *teacher, *student,
                                objective, torch::kCPU);
    const kd::GeometryProbe& probe = tracker.probe();
    // A class-balanced probe of the training subset: 8 of each of the 10 classes.
    QCOMPARE(int(probe.labels.size()), 80);
    for (int c = 0; c < 10; ++c) QCOMPARE(int(std::count(probe.labels.begin(), probe.labels.end(), c)), 8);
    QCOMPARE(probe.n_train, int64_t(300));
    QCOMPARE(int(probe.teacher_layers.size()), teacher->num_layers());
    const kd::GeometrySnapshot snap = tracker.snapshot(-1, 0, false);
    QCOMPARE(snap.pairs.size(), size_t(3));

    const torch::Tensor images = tracker.images(), labels = tracker.labels();
    const std::vector<torch::Tensor> sf = kd::extract_features(*student, images, data.stats, o.student_layers);
    std::vector<int> all;
    for (int l = 0; l < teacher->num_layers(); ++l) all.push_back(l);
    const std::vector<torch::Tensor> tf = kd::extract_features(*teacher, images, data.stats, all);
    // The pairs' targets and the projected student features in one batch.
    const torch::Tensor x = kd::to_normalized_float(images, data.stats);
    const kd::TeacherBatch tb = kd::run_teacher(*teacher, objective.teacher_request(), x);
    torch::NoGradGuard no_grad;
    objective.set_training(false);
    const std::vector<torch::Tensor> raw = student->features(x, o.student_layers);
    for (size_t i = 0; i < 3; ++i) {
      const kd::PairSnapshot& p = snap.pairs[i];
      const kd::QualityScores q = kd::knowledge_quality(sf[i], labels, sf[i], labels, 10, 300);
      QVERIFY2(close(p.student.separation, q.separation, 1e-9), "S");
      QVERIFY2(close(p.student.information, q.information, 1e-9), "I");
      QVERIFY2(close(p.student.efficiency, q.efficiency, 1e-9), "E");
      QVERIFY2(close(p.student.quality, q.quality, 1e-9), "Q");
      const int t_layer = o.teacher_layers[i];
      const kd::QualityScores qt = kd::knowledge_quality(tf[t_layer], labels, tf[t_layer], labels, 10, 300);
      QVERIFY2(close(probe.pairs[i].teacher.quality, qt.quality, 1e-9), "teacher Q");
      // CKA by the feature form (D x D products) against the tracker's Gram matrices.
      for (int l = 0; l < teacher->num_layers(); ++l) {
        const double ref = kd::linear_cka(sf[i], tf[l], kd::CkaForm::features);
        QVERIFY2(close(p.cka_all[l], ref, 1e-5), qPrintable(QString("CKA %1 %2: %3 vs %4").arg(i).arg(l).arg(p.cka_all[l]).arg(ref)));
      }
      QCOMPARE(p.cka, p.cka_all[t_layer]);
      QCOMPARE(p.ncc, kd::ncc_accuracy(sf[i], labels, 10));
      const kd::ProjectedPair pp = objective.project_pair(i, raw[i], tb.features[i]);
      const double loss = kd::feature_pair_loss(pp.student, pp.teacher).item<double>();
      QVERIFY2(close(p.feature_loss, loss, 1e-5), qPrintable(QString("loss %1 vs %2").arg(p.feature_loss).arg(loss)));

      // The 2-D view: the target's top two principal axes by an SVD of the centered target.
      const torch::Tensor t = pp.teacher.reshape({80, -1}).to(torch::kDouble);
      const torch::Tensor mean = t.mean(0, true);
      const auto [u, sv, vh] = torch::linalg_svd(t - mean, false);
      const torch::Tensor axes = vh.slice(0, 0, 2).t();  // (D, 2)
      torch::Tensor ref_t = (t - mean).mm(axes);
      torch::Tensor ref_s = (pp.student.reshape({80, -1}).to(torch::kDouble) - mean).mm(axes);
      const torch::Tensor got_t = torch::tensor(probe.pairs[i].teacher_coords).to(torch::kDouble).reshape({80, 2});
      const torch::Tensor got_s = torch::tensor(p.coords).to(torch::kDouble).reshape({80, 2});
      for (int k = 0; k < 2; ++k) {  // an SVD's signs are arbitrary: match the tracker's
        if ((got_t.select(1, k) * ref_t.select(1, k)).sum().item<double>() < 0) {
          ref_t.select(1, k).neg_();
          ref_s.select(1, k).neg_();
        }
      }
      const double scale = ref_t.abs().max().item<double>();
      QVERIFY2((got_t - ref_t).abs().max().item<double>() <= 1e-4 * scale, "teacher coordinates");
      QVERIFY2((got_s - ref_s).abs().max().item<double>() <= 1e-4 * std::max(scale, ref_s.abs().max().item<double>()),
               "student coordinates");
    }
    // The same axes pca_projection uses (its sign rule included).
    const torch::Tensor t0 = objective.project_pair(0, raw[0], tb.features[0]).teacher.reshape({80, -1});
    const kd::Projection pca = kd::pca_projection(t0, labels, 10, 2);
    const torch::Tensor mine = torch::tensor(probe.pairs[0].teacher_coords).reshape({80, 2});
    QVERIFY((pca.coords - mine).abs().max().item<double>() <= 1e-4 * pca.coords.abs().max().item<double>());
  }

  void trackingLeavesTheNumbersAndWritesTheLog() {
    QTemporaryDir dir;
    const std::string root = dir.path().toStdString();
    const kd::TrainData data = kdtest::fashion_train_data(30, 10);  // 6 steps per epoch
    auto teacher = tiny(9);
    teacher->set_training(false);
    kd::TrainerSettings plain = ours(2);
    kd::TrainerSettings tracked = plain;
    tracked.tracking.enabled = true;
    tracked.tracking.every_steps = 4;
    kd::SeedResult a, b;
    {
      auto student = tiny(7);
      kd::SeedTrainer t(plain, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, root + "/a");
      a = t.run();
    }
    Recorder seen;
    {
      auto student = tiny(7);
      kd::SeedTrainer t(tracked, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, root + "/b");
      b = t.run(&seen);
    }
    for (int e = 0; e < 2; ++e) {
      QCOMPARE(b.history[e].test_acc, a.history[e].test_acc);
      QCOMPARE(b.history[e].loss, a.history[e].loss);
    }
    QVERIFY(!std::filesystem::exists(root + "/a/geometry.jsonl"));
    // Before training, at step 4 (within epoch 1), after epoch 1, at step 8, after epoch 2.
    QCOMPARE(int(seen.probes.size()), 1);
    QCOMPARE(int(seen.snapshots.size()), 5);
    const std::vector<int> epochs = {-1, 0, 0, 1, 1};
    const std::vector<int64_t> steps = {0, 4, 6, 8, 12};
    const std::vector<bool> partial = {false, true, false, true, false};
    for (size_t i = 0; i < 5; ++i) {
      QCOMPARE(seen.snapshots[i].epoch, epochs[i]);
      QCOMPARE(seen.snapshots[i].step, steps[i]);
      QCOMPARE(seen.snapshots[i].partial, bool(partial[i]));
      QCOMPARE(seen.snapshots[i].epochs_done, double(steps[i]) / 6.0);
      for (const kd::PairSnapshot& p : seen.snapshots[i].pairs) {
        QVERIFY(p.cka >= 0 && p.cka <= 1 + 1e-9);
        QVERIFY(p.ncc >= 0 && p.ncc <= 1);
        QVERIFY(std::isfinite(p.feature_loss));
      }
    }
    // The feature loss falls as the student learns its teacher's features.
    QVERIFY(seen.snapshots.back().pairs[0].feature_loss < seen.snapshots.front().pairs[0].feature_loss);
    const kd::GeometryLog log = kd::read_geometry_log(root + "/b/geometry.jsonl");
    QCOMPARE(log.probe.labels, seen.probes[0].labels);
    QCOMPARE(int(log.snapshots.size()), 5);
    for (size_t i = 0; i < 5; ++i) {
      QCOMPARE(log.snapshots[i].step, seen.snapshots[i].step);
      QCOMPARE(log.snapshots[i].pairs[2].cka, seen.snapshots[i].pairs[2].cka);
      QCOMPARE(log.snapshots[i].pairs[1].coords, seen.snapshots[i].pairs[1].coords);
    }
    bool noted = false;
    for (const auto& n : seen.notes) noted = noted || contains(n, "geometry tracking: 60 probe samples, 3 pairs");
    QVERIFY(noted);
  }

  void aResumeKeepsEachSnapshotOnce() {
    QTemporaryDir dir;
    const std::string seed_dir = dir.path().toStdString() + "/seed-7";
    const kd::TrainData data = kdtest::fashion_train_data(30, 10);
    auto teacher = tiny(9);
    teacher->set_training(false);
    kd::TrainerSettings s = ours(3);
    s.tracking.enabled = true;
    {
      auto student = tiny(7);
      kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, seed_dir);
      Recorder stop(3);  // reports at steps 5, 6 (end of epoch 1), 10 -> stops inside epoch 2
      QVERIFY(contains(error_of([&] { t.run(&stop); }), "cancelled"));
      QCOMPARE(int(stop.snapshots.size()), 2);  // before training, after epoch 1
    }
    auto student = tiny(7);
    kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7, seed_dir);
    Recorder seen;
    t.run(&seen);
    // The earlier two come again first (for a live view), then epochs 2 and 3.
    QCOMPARE(int(seen.snapshots.size()), 4);
    const kd::GeometryLog log = kd::read_geometry_log(seed_dir + "/geometry.jsonl");
    QCOMPARE(int(log.snapshots.size()), 4);
    for (int i = 0; i < 4; ++i) {
      QCOMPARE(log.snapshots[i].epoch, i - 1);
      QCOMPARE(seen.snapshots[i].epoch, i - 1);
    }
  }

  void methodsWithoutProjectedPairsAreSkippedWithANote() {
    QTemporaryDir dir;
    const kd::TrainData data = kdtest::fashion_train_data(10, 5);
    auto teacher = tiny(9);
    auto student = tiny(7);
    teacher->set_training(false);
    kd::TrainerSettings s = ours(1);
    s.objective.method = kd::Method::kKD;
    s.objective.student_layers.clear();
    s.objective.teacher_layers.clear();
    s.tracking.enabled = true;
    kd::SeedTrainer t(s, data, *student, teacher.get(), nullptr, nullptr, torch::kCPU, 7,
                      dir.path().toStdString() + "/s");
    Recorder seen;
    t.run(&seen);
    QVERIFY(seen.snapshots.empty());
    QVERIFY(!std::filesystem::exists(dir.path().toStdString() + "/s/geometry.jsonl"));
    bool noted = false;
    for (const auto& n : seen.notes) noted = noted || contains(n, "method 'kd' has none, so its geometry is not tracked");
    QVERIFY(noted);
  }

  void aDamagedLogNamesItsLine() {
    kd::GeometryProbe probe;
    probe.num_classes = 2;
    probe.labels = {0, 1, 1};
    probe.teacher_layers = {"a", "b"};
    kd::ProbePair pair;
    pair.teacher_name = "b";
    pair.student_name = "s";
    pair.teacher_coords = {0, 0, 1, 1, 2, 2};
    probe.pairs.push_back(pair);
    kd::GeometrySnapshot s;
    kd::PairSnapshot ps;
    ps.cka_all = {0.5, std::nan("")};
    ps.coords = {0, 1, 2, 3, 4, 5};
    s.pairs.push_back(ps);
    const std::string good = kd::probe_record(probe) + "\n" + kd::snapshot_record(s) + "\n";
    const kd::GeometryLog back = kd::parse_geometry_log(good, "g");
    QCOMPARE(int(back.snapshots.size()), 1);
    QVERIFY(std::isnan(back.snapshots[0].pairs[0].cka_all[1]));  // non-finite: null in the file
    // A torn last line (a killed run) is dropped; elsewhere it is an error naming the line.
    QCOMPARE(int(kd::parse_geometry_log(good + "{\"kind\":\"snap", "g").snapshots.size()), 1);
    QVERIFY(contains(error_of([&] { kd::parse_geometry_log(good + "{oops\n" + good, "g.jsonl"); }),
                     "g.jsonl, line 3: not JSON"));
    kd::GeometrySnapshot wrong = s;
    wrong.pairs[0].coords.pop_back();
    QVERIFY(contains(error_of([&] { kd::parse_geometry_log(good + kd::snapshot_record(wrong) + "\n", "g"); }),
                     "line 3: the snapshot does not fit the probe: pair 0 has 5 coordinates"));
    QVERIFY(contains(error_of([&] { kd::parse_geometry_log(kd::snapshot_record(s), "g"); }),
                     "line 1: a snapshot before the probe line"));
    QVERIFY(contains(error_of([&] { kd::parse_geometry_log("", "empty.jsonl"); }), "empty.jsonl: no probe line"));
  }

  void configKeysDoNotChangeTheHash() {
    kd::ExperimentConfig c;
    c.student = "resnet9";
    c.teacher = "resnet18";
    const std::string before = kd::experiment_hash(c);
    const std::string plain = kd::experiment_to_json(c, -1);
    QVERIFY(!contains(plain, "geometry"));  // unset keys are not written: older files stay as they were
    c.track_geometry = true;
    c.geometry_every = 25;
    c.geometry_per_class = 20;
    QCOMPARE(kd::experiment_hash(c), before);
    const kd::ExperimentConfig back = kd::experiment_from_json(kd::experiment_to_json(c, 2), "c");
    QVERIFY(back.track_geometry);
    QCOMPARE(back.geometry_every, int64_t(25));
    QCOMPARE(back.geometry_per_class, int64_t(20));
    QVERIFY(contains(error_of([&] { kd::experiment_from_json(R"({"student":"resnet9","geometry_every":-1})", "c.json"); }),
                     "geometry_every"));
  }
};

QTEST_GUILESS_MAIN(TestGeometryTracking)
#include "test_geometry_tracking.moc"
