// The Sweeps tab (SweepPanel), offscreen, driving real kdstudio-cli point processes on
// Fashion-MNIST subsets: a 4-point sweep run 2 at a time whose tables equal the points'
// result.json files (pooled over seeds as mean and population std), CSV export, Stop leaving
// resumable points that Run finishes without training an epoch twice, every refusal (a bad sweep
// file, a missing kdstudio-cli, a study of a method without layers), Run on cluster with
// stand-ins for sbatch (one refusing, one accepting), and a layer-choice study
// whose plot puts each choice at the mean Q (study.json) of the layers its run trained with and
// at its run's accuracy, with Spearman's rho computed here independently.
// Set KD_SCREENSHOT_DIR to also save a PNG of the panel.
#include <qcustomplot.h>

#include <QSignalSpy>
#include <QtTest/QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "plots/study_plot.h"
#include "sweep/layer_study.h"
#include "sweep/slurm_submit.h"
#include "pages/sweep_panel.h"

using kd::ui::SweepPanel;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kTimeoutMs = 300000;  // whole sweeps of real training on a slow CI machine
const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

json tinyBase() {
  return {{"format", "kdstudio-experiment"}, {"dataset", "fashion-mnist"},
          {"student", "resnet9:channels=1,size=28,width=0.125"}, {"method", "student"},
          {"train_per_class", 20}, {"test_per_class", 20}, {"epochs", 1}, {"seeds", 1},
          {"batch_size", 50}, {"device", "cpu"}};
}

QString writeSweep(const QString& path, const json& sweep) {
  std::ofstream(path.toStdString(), std::ios::trunc) << sweep.dump(2);
  return path;
}

std::string pointDir(const QString& sweep, int index) {
  char name[16];
  std::snprintf(name, sizeof name, "point-%04d", index);
  return (fs::path(sweep.toStdString()) / name).string();
}

/// The point's run folder (its only subfolder).
std::string runDirOf(const QString& sweep, int index) {
  for (const auto& e : fs::directory_iterator(pointDir(sweep, index)))
    if (e.is_directory()) return e.path().string();
  return {};
}

int epochLines(const QString& sweep, int index) {
  int n = 0;
  const std::string run = runDirOf(sweep, index);
  if (run.empty()) return 0;
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    if (e.path().filename() != "epochs.jsonl") continue;
    std::ifstream f(e.path());
    for (std::string line; std::getline(f, line);) n += !line.empty();
  }
  return n;
}

QString meanStdText(double mean, double std) {
  return QString::number(mean, 'f', 2) + QStringLiteral(" \u00b1 ") + QString::number(std, 'f', 2);
}

/// Spearman's rho with average ranks for ties, written here independently of core.
double spearmanRho(const QVector<double>& x, const QVector<double>& y) {
  const auto ranks = [](const QVector<double>& v) {
    QVector<double> r(v.size());
    for (int i = 0; i < v.size(); ++i) {
      int less = 0, equal = 0;
      for (double w : v) {
        less += w < v[i];
        equal += w == v[i];
      }
      r[i] = less + (equal + 1) / 2.0;
    }
    return r;
  };
  const QVector<double> rx = ranks(x), ry = ranks(y);
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / rx.size();
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / ry.size();
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace

class TestSweepPanel : public QObject {
  Q_OBJECT

  QTemporaryDir dir_, settingsDir_;

  QString path(const QString& name) const { return dir_.filePath(name); }

  static void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
    if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
  }

  void makePanel(SweepPanel& panel) {
    panel.setCliPath(KD_CLI_PATH);
    panel.setSweepsRoot(path("sweeps"));
  }

 private slots:
  void initTestCase() {
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST is not installed");
    QVERIFY(dir_.isValid());
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_sweep_panel");
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
    qputenv("KDSTUDIO_CACHE_DIR", path("cache").toUtf8());
  }

  void studyPlotOfAHandMadeReport() {
    kd::StudyReport report;
    const auto row = [](const char* choice, std::vector<int> layers, std::optional<double> q,
                        std::optional<double> acc, double sd) {
      kd::StudyRow r;
      r.choice = choice;
      r.layers = std::move(layers);
      r.mean_q = q;
      r.acc_mean = acc;
      r.acc_std = sd;
      r.seeds = 3;
      return r;
    };
    // Given out of key order; I and E chose the same layers; one choice has no result yet.
    report.rows = {row("Q", {3, 4}, 1.6, 88.0, 0.3), row("standard", {2, 4}, 1.5, 90.0, 0.1),
                   row("I", {2, 3}, 1.7, 89.0, 0.2), row("E", {2, 3}, 1.7, 89.0, 0.2),
                   row("[1,5]", {1, 5}, 1.2, 87.0, 0.5), row("S", {8, 9}, std::nullopt, std::nullopt, 0)};
    report.spearman = 0.25;
    kd::ui::StudyPlot plot;
    plot.setReport(report);
    QCOMPARE(plot.pointCount(), 5);
    QCOMPARE(plot.choiceAt(4), QString("[1,5]"));
    QCOMPARE(plot.pointAt(0), QPointF(1.6, 88.0));
    // The graph is sorted by mean Q, and each error bar stays with its point.
    QCOMPARE(plot.points()->dataCount(), 5);
    const std::vector<std::pair<double, double>> expected = {{1.2, 0.5}, {1.5, 0.1}, {1.6, 0.3}, {1.7, 0.2}, {1.7, 0.2}};
    for (int i = 0; i < 5; ++i) {
      QCOMPARE(plot.points()->data()->at(i)->key, expected[static_cast<size_t>(i)].first);
      QCOMPARE(plot.errorBars()->data()->at(i).errorPlus, expected[static_cast<size_t>(i)].second);
    }
    // One label per point: I and E share theirs.
    QStringList labels;
    for (int i = 0; i < plot.itemCount(); ++i)
      if (auto* text = qobject_cast<QCPItemText*>(plot.item(i))) labels << text->text();
    labels.sort();
    QCOMPARE(labels, QStringList({"I, E [2,3]", "Q [3,4]", "[1,5]", "standard [2,4]"}));
    QCOMPARE(plot.caption(), QString("Spearman's \u03c1 (accuracy vs mean Q): 0.25 over 5 choices"));
    report.rows.resize(2);
    report.spearman.reset();
    plot.setReport(report);
    QCOMPARE(plot.pointCount(), 2);
    QCOMPARE(plot.caption(), QString("Spearman's \u03c1 needs 3 finished choices (2 so far)"));
  }

  void runShowsEveryPointAndPoolsSeeds() {
    json base = tinyBase();
    const QString file = writeSweep(path("grid.json"), {{"format", "kdstudio-sweep"}, {"version", 1},
                                                        {"name", "grid"}, {"base", base},
                                                        {"axes", {{"lr", {0.001, 0.002}}, {"seed", {0, 1}}}}});
    SweepPanel panel;
    makePanel(panel);
    panel.resize(1100, 700);
    panel.show();
    QCOMPARE(panel.openSweep(file), QString());
    const QString sweep = path("sweeps/grid");
    QCOMPARE(panel.sweepDir(), sweep);
    QCOMPARE(panel.pointRowCount(), 4);
    for (int r = 0; r < 4; ++r) QCOMPARE(panel.pointCell(r, 2), QString("pending"));
    QCOMPARE(panel.pointCell(3, 1), QString("lr=0.002 seed=1"));

    QSignalSpy finished(&panel, &SweepPanel::runFinished);
    QVERIFY(panel.startRun(2));
    QVERIFY(panel.isBusy());
    QVERIFY(!panel.startRun(2));  // one run at a time
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(finished.first().first().toBool(), false);
    QVERIFY(!panel.isBusy());
    QCOMPARE(panel.lastError(), QString());

    // Every point done; its best accuracy is its result.json's; groups pool the two seeds.
    QCOMPARE(panel.status().count(kd::PointState::kDone), 4);
    std::vector<double> best;
    for (int i = 0; i < 4; ++i) {
      QCOMPARE(panel.pointCell(i, 2), QString("done"));
      QCOMPARE(panel.pointCell(i, 3), QString("1/1"));
      best.push_back(kd::read_result(runDirOf(sweep, i)).best_test_acc_mean);
      QCOMPARE(panel.pointCell(i, 4), QString::number(best.back(), 'f', 2));
    }
    QCOMPARE(panel.groupRowCount(), 2);
    for (int g = 0; g < 2; ++g) {
      QCOMPARE(panel.groupCell(g, 0), QString(g == 0 ? "lr=0.001" : "lr=0.002"));
      QCOMPARE(panel.groupCell(g, 1), QString("2/2"));
      QCOMPARE(panel.groupCell(g, 2), QString("2"));
      const double a = best[static_cast<size_t>(2 * g)], b = best[static_cast<size_t>(2 * g + 1)];
      QCOMPARE(panel.groupCell(g, 3), meanStdText((a + b) / 2, std::abs(a - b) / 2));
    }
    saveShot(&panel, "sweep-panel");

    QCOMPARE(panel.exportCsv(path("grid.csv")), QString());
    QFile csv(path("grid.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = csv.readAll().trimmed().split('\n');
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].startsWith("group,lr,points,points_done,seeds,best_mean"));

    // Reopened (by its folder, as the CLI or a cluster left it): the same, and nothing to run.
    SweepPanel again;
    makePanel(again);
    QCOMPARE(again.openSweep(sweep), QString());
    QCOMPARE(again.status().count(kd::PointState::kDone), 4);
    QCOMPARE(again.groupCell(1, 3), panel.groupCell(1, 3));
  }

  void stopLeavesPointsThatRunFinishes() {
    json base = tinyBase();
    base["train_per_class"] = 100;
    base["epochs"] = 5;
    const QString file = writeSweep(path("long.json"), {{"format", "kdstudio-sweep"}, {"version", 1},
                                                        {"name", "long"}, {"base", base},
                                                        {"axes", {{"seed", {0, 1}}}}});
    SweepPanel panel;
    makePanel(panel);
    QCOMPARE(panel.openSweep(file), QString());
    const QString sweep = panel.sweepDir();
    QSignalSpy finished(&panel, &SweepPanel::runFinished);
    QVERIFY(panel.startRun(2));
    QTRY_VERIFY_WITH_TIMEOUT(epochLines(sweep, 0) >= 1 && epochLines(sweep, 1) >= 1, kTimeoutMs);
    panel.stop();
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(finished.first().first().toBool(), true);
    const int seen0 = epochLines(sweep, 0), seen1 = epochLines(sweep, 1);
    QVERIFY2(seen0 < 5 || seen1 < 5, "both points finished before Stop reached them");
    QCOMPARE(panel.status().count(kd::PointState::kRunning), 0);
    QCOMPARE(panel.status().count(kd::PointState::kDone) + panel.status().count(kd::PointState::kInterrupted), 2);
    if (seen0 < 5) QCOMPARE(panel.pointCell(0, 2), QString("interrupted"));

    QVERIFY(panel.startRun(2));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(panel.status().count(kd::PointState::kDone), 2);
    QCOMPARE(epochLines(sweep, 0), 5);  // resumed, no epoch twice
    QCOMPARE(epochLines(sweep, 1), 5);
  }

  void badInputIsNamedAndChangesNothing() {
    SweepPanel panel;
    makePanel(panel);
    QCOMPARE(panel.openSweep(path("sweeps/grid")), QString());
    const QString bad = writeSweep(path("bad.json"), {{"format", "kdstudio-sweep"}, {"version", 1},
                                                      {"base", tinyBase()}, {"axes", {{"methd", {"kd"}}}}});
    const QString error = panel.openSweep(bad);
    QVERIFY2(error.contains("axes.methd: unknown key 'methd' (did you mean 'method'?)"), qPrintable(error));
    QCOMPARE(panel.sweepDir(), path("sweeps/grid"));  // still the sweep open before
    QVERIFY(!QFileInfo::exists(path("sweeps/bad")));
    QVERIFY(panel.openSweep(path("nothing-here.json")).contains("nothing-here.json"));

    panel.setCliPath(path("no-such-cli"));
    QVERIFY(!panel.startRun(1));
    QVERIFY2(panel.lastError().contains("kdstudio-cli was not found"), qPrintable(panel.lastError()));

    kd::ExperimentConfig student = kd::experiment_from_json(tinyBase().dump(), "test");
    const QString study = panel.startLayerStudy(student, {}, 1);
    QVERIFY2(study.contains("method 'student' distils none"), qPrintable(study));
    QVERIFY(!panel.isBusy());
  }

  void runOnClusterSubmitsTheJobArray() {
    // Stand-ins for sbatch on the PATH (the real Slurm runs in scripts/test-slurm.sh).
    const QByteArray path = qgetenv("PATH");
    const auto fake = [&](const QString& folder, const QByteArray& body) {
      QDir().mkpath(this->path(folder));
      QFile f(this->path(folder + "/sbatch"));
      if (f.open(QIODevice::WriteOnly)) f.write("#!/bin/sh\n" + body);
      f.close();
      f.setPermissions(f.permissions() | QFileDevice::ExeOwner);
      qputenv("PATH", (this->path(folder) + ":").toUtf8() + path);
    };
    const QString file = writeSweep(this->path("cluster.json"), {{"format", "kdstudio-sweep"}, {"version", 1},
                                                                 {"name", "cluster"}, {"base", tinyBase()},
                                                                 {"axes", {{"seed", {0, 1, 2}}}}});
    SweepPanel panel;
    makePanel(panel);
    QCOMPARE(panel.openSweep(file), QString());
    fake("refusing", "echo 'sbatch: error: invalid partition specified: gpu' >&2; exit 1\n");
    QVERIFY(SweepPanel::clusterAvailable());
    kd::SlurmOptions options;
    options.partition = "gpu";
    const QString refused = panel.submitToSlurm(options);
    QVERIFY2(refused.contains("sbatch refused the job array (exit code 1): sbatch: error: invalid partition"),
             qPrintable(refused));
    QVERIFY(!QFileInfo::exists(panel.sweepDir() + "/slurm/jobs.json"));  // nothing recorded

    fake("accepting", "echo \"$@\" > " + this->path("accepting/args").toUtf8() + "; echo 4242\n");
    options.time = "01:00:00";
    QCOMPARE(panel.submitToSlurm(options), QString());
    qputenv("PATH", path);
    QFile jobs(panel.sweepDir() + "/slurm/jobs.json");
    QVERIFY(jobs.open(QIODevice::ReadOnly));
    QCOMPARE(json::parse(jobs.readAll().toStdString()), json::array({"4242"}));
    QFile script(panel.sweepDir() + "/slurm/array.sbatch");
    QVERIFY(script.open(QIODevice::ReadOnly));
    const QByteArray text = script.readAll();
    QVERIFY(text.contains("#SBATCH --array=0-2\n"));
    QVERIFY(text.contains("#SBATCH --partition=gpu\n"));
    QVERIFY(text.contains("#SBATCH --time=01:00:00\n"));
    QVERIFY(text.contains(QFileInfo(KD_CLI_PATH).absoluteFilePath().toUtf8() + " --threads"));
  }

  void layerStudyPlotsAccuracyAgainstMeanQ() {
    json base = tinyBase();
    base["method"] = "ours";
    base["name"] = "tiny";
    base["teacher"] = QFileInfo(QStringLiteral(KD_FIXTURES_DIR "/../../resources/models/fashion-mnist-teacher.kdmodel"))
                          .canonicalFilePath()
                          .toStdString();
    const kd::ExperimentConfig config = kd::experiment_from_json(base.dump(), "test");
    SweepPanel panel;
    makePanel(panel);
    panel.resize(1300, 760);
    panel.show();
    QSignalSpy prepared(&panel, &SweepPanel::studyPrepared);
    QSignalSpy finished(&panel, &SweepPanel::runFinished);
    kd::LayerStudyOptions options;
    options.seeds = 1;
    options.random_sets = 1;
    QCOMPARE(panel.startLayerStudy(config, options, 2), QString());
    QVERIFY(panel.isBusy());
    QVERIFY(prepared.wait(kTimeoutMs));
    const QString sweep = path("sweeps/tiny-study");
    QCOMPARE(panel.sweepDir(), sweep);
    QVERIFY(panel.isStudy());
    QCOMPARE(panel.pointRowCount(), 7);  // Q, standard, S, I, E, sqrtIE, one random set
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(panel.status().count(kd::PointState::kDone), 7);

    // Each plotted point: the mean of study.json's Q over the teacher layers its run trained
    // with (resolved.json), and its run's best accuracy (result.json).
    const std::vector<kd::StudyLayer> layers = kd::read_study_layers(sweep.toStdString());
    const auto qOf = [&](int index) {
      for (const auto& l : layers)
        if (l.index == index) return l.quality;
      return std::nan("");
    };
    kd::ui::StudyPlot* plot = panel.studyPlot();
    QVERIFY(plot->pointCount() >= 2);
    int checked = 0;
    for (int i = 0; i < 7; ++i) {
      const std::string run = runDirOf(sweep, i);
      std::ifstream f(run + "/resolved.json");
      const json resolved = json::parse(f);
      double q = 0;
      const auto& chosen = resolved["teacher_layers"];
      for (const auto& l : chosen) q += qOf(l.get<int>());
      q /= static_cast<double>(chosen.size());
      const double acc = kd::read_result(run).best_test_acc_mean;
      const QString label = panel.pointCell(i, 1);  // "teacher_layers=Q seed=0"
      for (int p = 0; p < plot->pointCount(); ++p) {
        if (!label.startsWith("teacher_layers=" + plot->choiceAt(p) + " ")) continue;
        QVERIFY(std::abs(plot->pointAt(p).x() - q) < 1e-9);
        QVERIFY(std::abs(plot->pointAt(p).y() - acc) < 1e-9);
        ++checked;
      }
    }
    QCOMPARE(checked, plot->pointCount());
    QVector<double> keys, values;
    for (int p = 0; p < plot->pointCount(); ++p) {
      keys << plot->pointAt(p).x();
      values << plot->pointAt(p).y();
    }
    const double rho = spearmanRho(keys, values);
    if (std::isfinite(rho)) {
      QVERIFY2(plot->caption().contains(QString::number(rho, 'f', 2)), qPrintable(plot->caption()));
    }
    QVERIFY(!panel.studyVerdict().isEmpty());
    saveShot(&panel, "sweep-study");
  }
};

QTEST_MAIN(TestSweepPanel)
#include "test_sweep_panel.moc"
