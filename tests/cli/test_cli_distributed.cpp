// Data-parallel training as users run it: kdstudio-cli train --nproc 2 (real processes, Gloo over
// loopback, a TCPStore rendezvous). 2 ranks x batch 64 reach the parameters of 1 rank x batch 128
// after 20 steps (a model without BatchNorm, SGD: float rounding only, 1e-5); a BatchNorm model
// keeps identical replicas after every step (--check-replicas); kill -9 of one rank stops the
// other within seconds and `resume` ends bit for bit where an uninterrupted run ends; a
// rendezvous that cannot complete fails within its timeout naming what is missing.
#include <signal.h>

#include <QtTest/QtTest>
#include <filesystem>
#include <map>

#include "cli_test_util.h"
#include "io/safetensors.h"

using kdtest::Run;

namespace {

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";
constexpr int kTimeoutMs = 300000;

QString teacherPath() {
  return QFileInfo(QStringLiteral(KD_FIXTURES_DIR "/../../resources/models/fashion-mnist-teacher.kdmodel"))
      .canonicalFilePath();
}

/// A config: vanilla KD (the teacher's logits, cached in shards) into a small ViT (no BatchNorm)
/// with SGD, 256 images per class = 20 steps of 128 per epoch.
QJsonObject vitConfig(const QString& name, int epochs, int per_class) {
  return {{"format", "kdstudio-experiment"}, {"version", 1}, {"dataset", "fashion-mnist"},
          {"teacher", teacherPath()}, {"student", "vit_ett:channels=1,size=28,width=0.25"},
          {"method", "kd"}, {"optimizer", "sgd"}, {"lr", 0.05}, {"train_per_class", per_class},
          {"test_per_class", 20}, {"epochs", epochs}, {"batch_size", 128}, {"seeds", 1},
          {"name", name}, {"device", "cpu"}};
}

std::map<std::string, torch::Tensor> checkpoint(const QString& run_dir) {
  const auto content = kd::read_safetensors((run_dir + "/seed-0/checkpoint.safetensors").toStdString());
  return {content.tensors.begin(), content.tensors.end()};
}

/// Largest absolute difference over the student's tensors (they must match by name and shape).
double maxDifference(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  double worst = 0;
  int compared = 0;
  for (const auto& [name, t] : a) {
    if (name.rfind("student.", 0) != 0) continue;
    const auto it = b.find(name);
    if (it == b.end() || !it->second.sizes().equals(t.sizes())) return 1e30;
    worst = std::max(worst, (t.to(torch::kDouble) - it->second.to(torch::kDouble)).abs().max().item<double>());
    ++compared;
  }
  return compared > 0 ? worst : 1e30;
}

}  // namespace

class TestCliDistributed : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;

  QString path(const QString& name) const { return m_dir.filePath(name); }

  QString writeConfig(const QString& name, const QJsonObject& config) const {
    QFile f(path(name + ".json"));
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(QJsonDocument(config).toJson());
    return f.fileName();
  }

  QProcessEnvironment environment() const {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("KDSTUDIO_CACHE_DIR", path("cache"));
    return env;
  }

  Run runCli(const QStringList& args, const QProcessEnvironment& env) const {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(KD_CLI_PATH, args);
    if (!p.waitForFinished(kTimeoutMs)) return {};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
  }
  Run runCli(const QStringList& args) const { return runCli(args, environment()); }

  /// The one run folder under `out`.
  QString runDir(const QString& out) const {
    const auto dirs = QDir(out).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    return dirs.size() == 1 ? out + "/" + dirs.front() : QString();
  }

 private slots:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    QVERIFY2(QFileInfo::exists(teacherPath()), "the bundled teacher is missing");
  }

  void twoRanksMatchOneRankWithTheWholeBatch() {
    const QString config = writeConfig("parity", vitConfig("parity", 1, 256));
    const Run one = runCli({"train", "--config", config, "--out", path("one")});
    QVERIFY2(one.code == 0, qPrintable(one.err));
    const Run two = runCli({"train", "--config", config, "--out", path("two"), "--nproc", "2"});
    QVERIFY2(two.code == 0, qPrintable(two.err));
    QVERIFY2(two.err.contains("started 2 ranks on this machine"), qPrintable(two.err));
    QVERIFY2(two.out.contains("Processes:  2 (gloo"), qPrintable(two.out));
    QVERIFY2(two.err.contains("computed in 2 shards"), qPrintable(two.err));
    const QString a = runDir(path("one")), b = runDir(path("two"));
    QVERIFY(!a.isEmpty() && !b.isEmpty());
    // The same experiment (the number of processes does not change its hash) ...
    QCOMPARE(QFileInfo(a).fileName(), QFileInfo(b).fileName());
    // ... 20 steps: the same parameters to float rounding (measured 7e-7; SGD is linear in the
    // gradient, so rounding does not grow as it does through Adam's normalisation).
    const auto steps = kdtest::readAll(b + "/seed-0/steps.jsonl").count('\n');
    QCOMPARE(steps, 2);  // log_every 10: steps 10 and 20
    const double diff = maxDifference(checkpoint(a), checkpoint(b));
    QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
    // Test accuracy is reduced over the ranks' shards of the test split.
    const QJsonObject ra = kdtest::readJson(a + "/result.json"), rb = kdtest::readJson(b + "/result.json");
    QCOMPARE(rb.value("processes").toInt(), 2);
    QCOMPARE(ra.value("processes").toInt(), 1);
    QCOMPARE(rb.value("last_test_acc_mean").toDouble(), ra.value("last_test_acc_mean").toDouble());
    // Rank 0 alone wrote the run folder: one seed folder with its files, nothing else.
    QCOMPARE(QDir(b).entryList(QDir::Dirs | QDir::NoDotAndDotDot), QStringList{"seed-0"});
  }

  void batchNormReplicasStayIdentical_data() {
    QTest::addColumn<QString>("student");
    QTest::addColumn<QString>("method");
    QTest::newRow("resnet9, ours") << "resnet9:channels=1,size=28,width=0.125" << "ours";
    QTest::newRow("mobilenetv2") << "mobilenetv2:channels=1,size=28,width=0.25" << "student";
    QTest::newRow("vgg11_bn") << "vgg11_bn:channels=1,size=28,width=0.125" << "student";
  }
  void batchNormReplicasStayIdentical() {
    QFETCH(QString, student);
    QFETCH(QString, method);
    QJsonObject c = vitConfig("bn-" + QString(QTest::currentDataTag()).section(',', 0, 0), 1, 64);
    c["student"] = student;
    c["method"] = method;
    c["batch_size"] = 64;
    if (method == "ours") {
      c["teacher_layers"] = "standard";
      c["student_layers"] = "standard";
    } else {
      c.remove("teacher");
    }
    const QString name = c["name"].toString();
    const Run run = runCli({"train", "--config", writeConfig(name, c), "--out", path(name), "--nproc", "2",
                            "--check-replicas"});
    QVERIFY2(run.code == 0, qPrintable(run.err));
    QVERIFY(QFileInfo::exists(runDir(path(name)) + "/result.json"));
  }

  void oddBatchIsRefused() {
    // An odd batch cannot be split over 2 processes: named before anything is trained.
    QJsonObject c = vitConfig("odd", 1, 20);
    c["batch_size"] = 127;
    const Run odd = runCli({"train", "--config", writeConfig("odd", c), "--out", path("odd"), "--nproc", "2"});
    QCOMPARE(odd.code, 1);
    QVERIFY2(odd.err.contains("batch size 127 cannot be split evenly over 2 processes"), qPrintable(odd.err));
  }

  void killedRankStopsTheOtherAndResumesExactly() {
    const QString config = writeConfig("kill", vitConfig("kill", 3, 100));
    // The reference: the same 2-rank run without interruption.
    const Run whole = runCli({"train", "--config", config, "--out", path("whole"), "--nproc", "2"});
    QVERIFY2(whole.code == 0, qPrintable(whole.err));

    QProcess p;
    p.setProcessEnvironment(environment());
    p.start(KD_CLI_PATH, {"train", "--config", config, "--out", path("killed"), "--nproc", "2"});
    QVERIFY(p.waitForStarted());
    // "started 2 ranks on this machine (pids A B)" names the ranks.
    QByteArray err;
    QTRY_VERIFY_WITH_TIMEOUT((err += p.readAllStandardError()).contains("rendezvous at"), 30000);
    const QList<QByteArray> words = err.mid(err.indexOf("(pids ") + 6).split(')').front().split(' ');
    QCOMPARE(words.size(), 2);
    const pid_t rank1 = static_cast<pid_t>(words[1].toLongLong());
    QVERIFY(rank1 > 0);
    // After the first epoch's checkpoint, rank 1 is killed.
    QTRY_VERIFY_WITH_TIMEOUT(!runDir(path("killed")).isEmpty() &&
                                 kdtest::readAll(runDir(path("killed")) + "/seed-0/epochs.jsonl").count('\n') >= 1,
                             120000);
    QElapsedTimer stopped;
    stopped.start();
    QCOMPARE(kill(rank1, SIGKILL), 0);
    QVERIFY(p.waitForFinished(30000));
    QVERIFY2(stopped.elapsed() < 15000, qPrintable(QString::number(stopped.elapsed())));
    err += p.readAllStandardError();
    QCOMPARE(p.exitCode(), 128 + SIGKILL);
    QVERIFY2(err.contains("rank 1 (pid " + words[1] + ") was killed by signal 9"), err.constData());
    QVERIFY2(err.contains("another rank stopped during"), err.constData());
    QVERIFY2(err.contains("kdstudio-cli resume"), err.constData());
    const QString dir = runDir(path("killed"));
    QVERIFY(!QFileInfo::exists(dir + "/result.json"));
    QVERIFY(QFileInfo::exists(dir + "/seed-0/checkpoint.safetensors"));

    const Run resumed = runCli({"resume", dir, "--nproc", "2"});
    QVERIFY2(resumed.code == 0, qPrintable(resumed.err));
    QVERIFY2(resumed.err.contains("resuming after epoch") || resumed.out.contains("resuming after epoch"),
             qPrintable(resumed.err));
    QCOMPARE(kdtest::readAll(dir + "/seed-0/epochs.jsonl").count('\n'), 3);
    QCOMPARE(maxDifference(checkpoint(dir), checkpoint(runDir(path("whole")))), 0.0);
  }

  void rendezvousFailuresNameWhatIsMissing() {
    const QString config = writeConfig("rv", vitConfig("rv", 1, 10));
    // Rank 0 of 2 alone: rank 1 never comes.
    QProcessEnvironment env = environment();
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", "29917");
    env.insert("WORLD_SIZE", "2");
    env.insert("RANK", "0");
    QElapsedTimer t;
    t.start();
    const Run alone = runCli({"train", "--config", config, "--out", path("rv"), "--dist-timeout", "2"}, env);
    QCOMPARE(alone.code, 1);
    QVERIFY2(t.elapsed() < 20000, qPrintable(QString::number(t.elapsed())));
    QVERIFY2(alone.err.contains("rank 1 of 2 did not join the rendezvous at 127.0.0.1:29917 within 2 s"),
             qPrintable(alone.err));
    // Rank 1 with a port nobody serves.
    env.insert("RANK", "1");
    env.insert("MASTER_PORT", "29918");
    const Run lost = runCli({"train", "--config", config, "--out", path("rv"), "--dist-timeout", "2"}, env);
    QCOMPARE(lost.code, 1);
    QVERIFY2(lost.err.contains("rank 1: error: rank 1 could not reach the rendezvous at 127.0.0.1:29918 within 2 s"),
             qPrintable(lost.err));
    QVERIFY(!QFileInfo::exists(path("rv")));  // nothing written
    // --nproc under a launcher that started this process already.
    const Run nested = runCli({"train", "--config", config, "--out", path("rv"), "--nproc", "2"}, env);
    QCOMPARE(nested.code, 1);
    QVERIFY2(nested.err.contains("under torchrun or srun, which start them, leave it out"), qPrintable(nested.err));
  }
};

QTEST_GUILESS_MAIN(TestCliDistributed)
#include "test_cli_distributed.moc"
