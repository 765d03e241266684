// kdstudio-cli sweep: a real queue of point processes on Fashion-MNIST subsets (results pooled
// as the per-run result.json files say), a rerun that skips finished points, a stop (SIGTERM, as
// Ctrl-C) that leaves resumable points, the Slurm job script, and every refusal: a bad sweep
// file, a missing or refusing sbatch (stand-ins on the PATH: the real Slurm runs in
// scripts/test-slurm.sh).
#include <signal.h>

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <cmath>

#include "cli_test_util.h"

namespace {

constexpr int kTimeoutMs = 300000;
const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

using kdtest::readAll;
using kdtest::readJson;
using kdtest::Run;


int lineCount(const QString& path) {
  int n = 0;
  for (const QByteArray& line : readAll(path).split('\n')) n += !line.trimmed().isEmpty();
  return n;
}

/// A sweep of tiny CPU experiments (the student alone) over `axes`.
QByteArray sweepText(const QString& name, const QJsonObject& axes, const QJsonObject& base_extra = {}) {
  QJsonObject base{{"format", "kdstudio-experiment"}, {"dataset", "fashion-mnist"},
                   {"student", "resnet9:channels=1,size=28,width=0.125"}, {"method", "student"},
                   {"train_per_class", 20}, {"test_per_class", 20}, {"epochs", 1},
                   {"seeds", 1}, {"batch_size", 50}, {"device", "cpu"}};
  for (auto it = base_extra.begin(); it != base_extra.end(); ++it) base[it.key()] = it.value();
  return QJsonDocument(QJsonObject{{"format", "kdstudio-sweep"}, {"version", 1}, {"name", name},
                                   {"base", base}, {"axes", axes}})
      .toJson();
}

}  // namespace

class TestCliSweep : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;

  QString path(const QString& name) const { return m_dir.filePath(name); }

  QString write(const QString& name, const QByteArray& text) const {
    QFile f(path(name));
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(text);
    return path(name);
  }

  QProcessEnvironment environment(const QString& extra_path = {}) const {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("KDSTUDIO_CACHE_DIR", m_dir.filePath("cache"));
    if (!extra_path.isNull()) env.insert("PATH", extra_path);
    return env;
  }

  Run runCli(const QStringList& args, const QString& extra_path = {}) const {
    QProcess p;
    p.setProcessEnvironment(environment(extra_path));
    p.start(KD_CLI_PATH, args);
    if (!p.waitForFinished(kTimeoutMs)) return {};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
  }

  /// A fake sbatch in its own folder (prepended to the PATH): `body` is its shell script.
  QString fakeSbatch(const QString& folder, const QByteArray& body) const {
    QDir().mkpath(path(folder));
    const QString file = write(folder + "/sbatch", "#!/bin/sh\n" + body);
    QFile::setPermissions(file, QFile::permissions(file) | QFileDevice::ExeOwner);
    return path(folder) + ":" + qEnvironmentVariable("PATH");
  }

 private slots:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    if (!QFile::exists(QString(kFashionDir) + "/train-images-idx3-ubyte.gz") &&
        !QFile::exists(QString(kFashionDir) + "/train-images-idx3-ubyte")) {
      QSKIP("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    }
  }

  void aQueueRunsEveryPointAndPoolsSeeds() {
    const QString file = write("grid.json", sweepText("grid", {{"lr", QJsonArray{0.002, 0.004}},
                                                               {"seed", QJsonArray{0, 1}}}));
    const Run r = runCli({"sweep", "run", file, "--jobs", "2", "--out", path("sweeps")});
    QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
    const QString dir = path("sweeps/grid");
    QVERIFY2(r.out.contains("Sweep 'grid': 4 points in " + dir), qPrintable(r.out));
    QVERIFY2(r.out.contains("Running 4 points, 2 at a time"), qPrintable(r.out));
    QCOMPARE(r.out.count("start   point"), 4);
    QVERIFY2(r.out.contains("4 done, 0 running, 0 interrupted, 0 failed, 0 pending (of 4)"), qPrintable(r.out));

    // Pooled results equal the per-run result.json files: mean and population std of the
    // best accuracies of the two seeds of each lr.
    const Run st = runCli({"sweep", "status", dir, "--json", "--csv", path("grid.csv")});
    QVERIFY2(st.code == 0, qPrintable(st.err));
    const QJsonObject status = QJsonDocument::fromJson(st.out.toUtf8()).object();
    QCOMPARE(status["counts"].toObject()["done"].toInt(), 4);
    const QJsonArray points = status["points"].toArray();
    const QJsonArray groups = status["groups"].toArray();
    QCOMPARE(groups.size(), 2);
    for (int g = 0; g < 2; ++g) {
      double best[2];
      for (int s = 0; s < 2; ++s) {
        const QJsonObject p = points[g * 2 + s].toObject();
        QCOMPARE(p["settings"].toObject()["seed"].toInt(), s);
        const QJsonObject result = readJson(p["run_dir"].toString() + "/result.json");
        best[s] = result["best_test_acc_mean"].toDouble();
        QCOMPARE(p["best_mean"].toDouble(), best[s]);
        QVERIFY(QFile::exists(QString("%1/point-%2/log.txt").arg(dir).arg(g * 2 + s, 4, 10, QChar('0'))));
      }
      const QJsonObject group = groups[g].toObject();
      QCOMPARE(group["seeds"].toInt(), 2);
      QCOMPARE(group["best_mean"].toDouble(), (best[0] + best[1]) / 2);
      QCOMPARE(group["best_std"].toDouble(), std::abs(best[0] - best[1]) / 2);
    }
    QCOMPARE(readAll(path("grid.csv")).count('\n'), 3);
    QVERIFY(readAll(path("grid.csv")).startsWith("group,lr,points,points_done,seeds,best_mean"));

    // Running it again starts nothing.
    const QByteArray log0 = readAll(dir + "/point-0000/log.txt");
    const Run again = runCli({"sweep", "run", dir});
    QVERIFY2(again.code == 0, qPrintable(again.err));
    QVERIFY2(again.out.contains("Every point is done."), qPrintable(again.out));
    QCOMPARE(again.out.count("start   point"), 0);
    QCOMPARE(readAll(dir + "/point-0000/log.txt"), log0);

    // The table for people.
    const Run table = runCli({"sweep", "status", dir});
    QVERIFY2(table.out.contains("By sweep point (seeds pooled):"), qPrintable(table.out));
    QVERIFY2(table.out.contains("lr=0.002 seed=1"), qPrintable(table.out));
  }

  void aStoppedQueueLeavesResumablePoints() {
    const QString file = write("long.json", sweepText("long", {{"seed", QJsonArray{0, 1}}},
                                                      {{"train_per_class", 100}, {"epochs", 6}}));
    QProcess p;
    p.setProcessEnvironment(environment());
    p.start(KD_CLI_PATH, {"sweep", "run", file, "--jobs", "2", "--out", path("sweeps")});
    const QString epochs = path("sweeps/long/point-0000");
    QElapsedTimer clock;
    clock.start();
    QString epochsFile;
    while (clock.elapsed() < kTimeoutMs && p.state() != QProcess::NotRunning) {
      QDirIterator it(epochs, {"epochs.jsonl"}, QDir::Files, QDirIterator::Subdirectories);
      if (it.hasNext() && lineCount(epochsFile = it.next()) >= 1) break;
      QTest::qWait(100);
    }
    QVERIFY2(p.state() == QProcess::Running, "the sweep ended before its first epoch was seen");
    ::kill(static_cast<pid_t>(p.processId()), SIGTERM);  // what Ctrl-C does to the queue
    QVERIFY(p.waitForFinished(kTimeoutMs));
    QCOMPARE(p.exitCode(), 130);
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(err.contains("stopped; continue with: kdstudio-cli sweep run " + path("sweeps/long")), qPrintable(err));
    const int seen = lineCount(epochsFile);
    QVERIFY2(seen < 6, "the point finished before it could be stopped");

    Run st = runCli({"sweep", "status", path("sweeps/long"), "--json"});
    QJsonObject counts = QJsonDocument::fromJson(st.out.toUtf8()).object()["counts"].toObject();
    QCOMPARE(counts["running"].toInt(), 0);  // their markers are gone
    QCOMPARE(counts["interrupted"].toInt() + counts["pending"].toInt(), 2);

    const Run rest = runCli({"sweep", "run", path("sweeps/long")});
    QVERIFY2(rest.code == 0, qPrintable(rest.out + rest.err));
    QVERIFY2(readAll(epochs + "/log.txt").contains("resuming"), readAll(epochs + "/log.txt").constData());
    QCOMPARE(lineCount(epochsFile), 6);  // no epoch twice
    st = runCli({"sweep", "status", path("sweeps/long"), "--json"});
    counts = QJsonDocument::fromJson(st.out.toUtf8()).object()["counts"].toObject();
    QCOMPARE(counts["done"].toInt(), 2);
  }

  void submitWritesTheJobArray() {
    const QString file = write("slurm.json", sweepText("slurm", {{"seed", QJsonArray{0, 1, 2, 3}}}));
    Run r = runCli({"sweep", "submit", file, "--slurm", "--dry-run", "--out", path("sweeps"),
                    "--partition", "debug", "--max-parallel", "2", "--time", "00:10:00"});
    QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
    const QString script = path("sweeps/slurm/slurm/array.sbatch");
    QVERIFY2(r.out.contains("4 of 4 points as a job array (0-3%2)"), qPrintable(r.out));
    QVERIFY2(r.out.contains("Dry run: nothing submitted."), qPrintable(r.out));
    const QByteArray text = readAll(script);
    QVERIFY(text.contains("#SBATCH --array=0-3%2\n"));
    QVERIFY(text.contains("#SBATCH --partition=debug\n"));
    QVERIFY(text.contains("#SBATCH --time=00:10:00\n"));
    QVERIFY(text.contains(QByteArray(KD_CLI_PATH)));
    QVERIFY(!QFile::exists(path("sweeps/slurm/slurm/jobs.json")));

    // Without sbatch on the PATH.
    r = runCli({"sweep", "submit", path("sweeps/slurm"), "--slurm"}, "/nonexistent");
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("error: sbatch was not found on the PATH"), qPrintable(r.err));

    // An sbatch that refuses the job: its message is passed on, nothing recorded.
    r = runCli({"sweep", "submit", path("sweeps/slurm"), "--slurm"},
               fakeSbatch("refusing", "echo 'sbatch: error: invalid partition specified: debug' >&2\nexit 1\n"));
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("sbatch refused the job array (exit code 1): sbatch: error: invalid "
                            "partition specified: debug"), qPrintable(r.err));
    QVERIFY(!QFile::exists(path("sweeps/slurm/slurm/jobs.json")));

    // One that accepts it: the job id is printed and recorded.
    r = runCli({"sweep", "submit", path("sweeps/slurm"), "--slurm"},
               fakeSbatch("accepting", "echo \"$@\" > \"$(dirname \"$0\")/args\"\necho 4242\n"));
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("submitted job array 4242"), qPrintable(r.out));
    QCOMPARE(QJsonDocument::fromJson(readAll(path("sweeps/slurm/slurm/jobs.json"))).array(),
             QJsonArray{"4242"});
    QCOMPARE(readAll(path("accepting/args")).trimmed(), "--parsable " + script.toUtf8());

    r = runCli({"sweep", "submit", file, "--out", path("sweeps")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("sweep submit needs a scheduler: pass --slurm"), qPrintable(r.err));
  }

  void badInputIsNamedAndWritesNothing() {
    QJsonObject axes{{"methd", QJsonArray{"kd"}}};
    const QString file = write("bad.json", sweepText("bad", axes));
    Run r = runCli({"sweep", "run", file, "--out", path("bad-out")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("error: " + file + ": axes.methd: unknown key 'methd' (did you mean 'method'?)"),
             qPrintable(r.err));
    QVERIFY(!QFile::exists(path("bad-out")));

    r = runCli({"sweep", "run", path("missing.json")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("missing.json: cannot read the file"), qPrintable(r.err));

    const QString ok = write("two.json", sweepText("two", {{"seed", QJsonArray{0, 1}}}));
    r = runCli({"sweep", "submit", ok, "--slurm", "--dry-run", "--out", path("sweeps")});
    QCOMPARE(r.code, 0);
    r = runCli({"sweep", "run-point", path("sweeps/two"), "7"});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("has points 0 to 1; there is no point 7"), qPrintable(r.err));
    r = runCli({"sweep", "status", m_dir.path()});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("is not a sweep folder"), qPrintable(r.err));
  }

  void studyTrainsEveryLayerChoiceAndReports() {
    const QString teacher = QFileInfo(QStringLiteral(KD_FIXTURES_DIR "/../../resources/models/fashion-mnist-teacher.kdmodel"))
                                .canonicalFilePath();
    QJsonObject base{{"format", "kdstudio-experiment"}, {"name", "tiny"}, {"dataset", "fashion-mnist"},
                     {"teacher", teacher}, {"student", "resnet9:channels=1,size=28,width=0.125"},
                     {"method", "ours"}, {"train_per_class", 20}, {"test_per_class", 20},
                     {"epochs", 1}, {"batch_size", 50}, {"device", "cpu"}};
    const QString config = write("study-base.json", QJsonDocument(base).toJson());
    Run r = runCli({"study", "layers", "--config", config, "--seeds", "1", "--random-sets", "1",
                    "--jobs", "2", "--out", path("studies")});
    QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
    const QString dir = path("studies/tiny-study");
    QVERIFY2(r.out.contains("Step 2: train the base experiment with each teacher layer choice: 7 runs "
                            "(7 choices x 1 seed) in " + dir), qPrintable(r.out));
    QVERIFY2(r.out.contains("Spearman's rho (accuracy vs mean Q)"), qPrintable(r.out));

    // study.json: Q per teacher layer, as the analysis gave it.
    QHash<int, double> quality;
    for (const auto& l : QJsonDocument::fromJson(readAll(dir + "/study.json")).object()["layers"].toArray())
      quality[l.toObject()["index"].toInt()] = l.toObject()["Q"].toDouble();
    QVERIFY(quality.size() >= 4);

    Run rep = runCli({"study", "report", dir, "--json"});
    QVERIFY2(rep.code == 0, qPrintable(rep.err));
    const QJsonObject report = QJsonDocument::fromJson(rep.out.toUtf8()).object();
    const QJsonArray rows = report["rows"].toArray();
    QCOMPARE(rows.size(), 7);
    QStringList choices;
    QVector<double> meanQ, acc;
    for (int i = 0; i < 7; ++i) {
      const QJsonObject row = rows[i].toObject();
      choices << row["choice"].toString();
      // The point that trained this choice: its resolved layers and its result.
      const QString pdir = QString("%1/point-%2").arg(dir).arg(i, 4, 10, QChar('0'));
      const QString run = QDir(pdir).entryList(QDir::Dirs | QDir::NoDotAndDotDot).value(0);
      const QJsonArray layers = readJson(pdir + "/" + run + "/resolved.json")["teacher_layers"].toArray();
      QCOMPARE(row["layers"].toArray(), layers);
      double q = 0;
      for (const auto& l : layers) q += quality.value(l.toInt());
      q /= layers.size();
      QVERIFY(std::abs(row["mean_q"].toDouble() - q) < 1e-12);
      const double best = readJson(pdir + "/" + run + "/result.json")["best_test_acc_mean"].toDouble();
      QCOMPARE(row["acc_mean"].toDouble(), best);
      QCOMPARE(row["seeds"].toInt(), 1);
      meanQ << q;
      acc << best;
    }
    QCOMPARE(choices.mid(0, 6), QStringList({"Q", "standard", "S", "I", "E", "sqrtIE"}));
    QVERIFY(choices[6].startsWith('['));
    // Spearman's rho over the 7 rows, with average ranks (computed here).
    const auto ranks = [](const QVector<double>& v) {
      QVector<double> out;
      for (double x : v) {
        int less = 0, equal = 0;
        for (double y : v) {
          less += y < x;
          equal += y == x;
        }
        out << less + (equal + 1) / 2.0;
      }
      return out;
    };
    const QVector<double> rq = ranks(meanQ), ra = ranks(acc);
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < 7; ++i) {
      sxy += (rq[i] - 4) * (ra[i] - 4);  // the mean rank of 7 values is 4
      sxx += (rq[i] - 4) * (rq[i] - 4);
      syy += (ra[i] - 4) * (ra[i] - 4);
    }
    if (sxx > 0 && syy > 0) {
      QVERIFY(std::abs(report["spearman"].toDouble() - sxy / std::sqrt(sxx * syy)) < 1e-12);
    } else {
      QVERIFY(report["spearman"].isNull());
    }
    QVERIFY(!report["verdict"].toString().isEmpty());

    const QJsonObject student{{"format", "kdstudio-experiment"}, {"dataset", "fashion-mnist"},
                              {"student", "resnet9:channels=1,size=28,width=0.125"}, {"method", "student"}};
    r = runCli({"study", "layers", "--config", write("student.json", QJsonDocument(student).toJson())});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("the layer study varies the teacher layers, and method 'student' distils none"),
             qPrintable(r.err));
  }
};

QTEST_GUILESS_MAIN(TestCliSweep)
#include "test_cli_sweep.moc"
