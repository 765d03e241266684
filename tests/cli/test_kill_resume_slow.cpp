// Crash safety (docs/reliability.md): kdstudio-cli train is killed with SIGKILL at random moments,
// some of them while the checkpoint is being written; after every kill the run folder must be
// readable (config, resolved config, checkpoint, metric files, student), and resuming it must
// succeed until the run completes, with exactly the accuracies and weights of an uninterrupted
// run of the same config (CPU, fixed seed). The kill moments come from a seeded generator, so a
// failure can be replayed; KD_KILL_TRIALS changes the number of trials (default 30).
#include <QDirIterator>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QThread>
#include <QtTest/QtTest>
#include <filesystem>
#include <random>

#include "io/safetensors.h"
#include "models/model_loader.h"
#include "test_util.h"

namespace {

constexpr int kTimeoutMs = 300000;
const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

/// Three epochs of 100 images (4 batches each): a run takes a few seconds, mostly start-up.
const QByteArray kConfig =
    R"({"format": "kdstudio-experiment", "dataset": "fashion-mnist",
        "student": "resnet9:channels=1,size=28,width=0.125", "method": "student",
        "train_per_class": 10, "test_per_class": 10, "epochs": 3, "seeds": 1, "seed": 4,
        "batch_size": 25, "log_every": 1, "device": "cpu"})";

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool hasTemporary(const QString& dir) {
  QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
  while (it.hasNext()) {
    if (QFileInfo(it.next()).fileName().contains(".tmp-")) return true;
  }
  return false;
}

/// True while a checkpoint is being written (its temporary exists).
bool checkpointBeingWritten(const std::string& seed_dir) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(seed_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().filename().string().rfind("checkpoint.safetensors.tmp-", 0) == 0) return true;
  }
  return false;
}

int lineCount(const QString& path) {
  int n = 0;
  for (const QByteArray& line : readAll(path).split('\n')) n += line.trimmed().isEmpty() ? 0 : 1;
  return n;
}

std::map<std::string, torch::Tensor> tensorsOf(const QString& path) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : kd::read_safetensors(path.toStdString()).tensors) out[name] = t;
  return out;
}

}  // namespace

class TestKillResume : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;
  QString m_config, m_runName, m_reference;
  qint64 m_referenceMs = 0;
  int m_kills = 0, m_killsInCheckpoint = 0;

  QStringList trainArgs(const QString& root) const {
    return {"--threads", "1", "train", "--config", m_config, "--out", root};
  }

  void start(QProcess& p, const QStringList& args) const {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("KDSTUDIO_CACHE_DIR", m_dir.filePath("cache"));
    p.setProcessEnvironment(env);
    p.start(KD_CLI_PATH, args);
  }

  /// Runs the process and kills it at a moment chosen by `mode`: 0 after a random delay,
  /// 1 while the checkpoint is written, 2 just after an epoch line appears. Returns whether the
  /// kill landed (the process was still running).
  bool runAndKill(QProcess& p, int mode, std::mt19937& rng, const QString& run) {
    const std::string seedDir = (run + "/seed-4").toStdString();
    const int linesBefore = lineCount(run + "/seed-4/epochs.jsonl");
    QElapsedTimer clock;
    clock.start();
    if (mode == 0) {
      std::uniform_int_distribution<int> delay(0, static_cast<int>(m_referenceMs * 9 / 10));
      p.waitForFinished(delay(rng));
    } else {
      const int settle = std::uniform_int_distribution<int>(0, 8)(rng);
      while (p.state() != QProcess::NotRunning && clock.elapsed() < kTimeoutMs) {
        const bool hit = mode == 1 ? checkpointBeingWritten(seedDir)
                                   : lineCount(run + "/seed-4/epochs.jsonl") > linesBefore;
        if (hit) {
          if (mode == 2) QThread::msleep(static_cast<unsigned long>(settle));
          break;
        }
        // Without an event loop, state() only changes when a wait function looks: poll it.
        if (p.waitForFinished(0)) break;
        QThread::usleep(300);
      }
    }
    if (p.state() == QProcess::NotRunning) return false;
    const bool inCheckpoint = checkpointBeingWritten(seedDir);
    p.kill();  // SIGKILL
    p.waitForFinished(kTimeoutMs);
    ++m_kills;
    m_killsInCheckpoint += inCheckpoint ? 1 : 0;
    return true;
  }

  /// Everything a killed run leaves must be readable. Returns whether the run folder exists as
  /// a run (has resolved.json).
  bool checkReadable(const QString& run) {
    if (!QFileInfo::exists(run + "/resolved.json")) return false;
    QJsonParseError e;
    for (const char* file : {"config.json", "resolved.json", "result.json"}) {
      const QString path = run + "/" + file;
      if (!QFileInfo::exists(path)) {
        if (QString(file) == "config.json") qWarning("config.json missing in %s", qPrintable(run));
        continue;
      }
      QJsonDocument::fromJson(readAll(path), &e);
      if (e.error != QJsonParseError::NoError) {
        QTest::qFail(qPrintable(path + " is not JSON: " + e.errorString()), __FILE__, __LINE__);
        return true;
      }
    }
    const QString seed = run + "/seed-4";
    int epochsDone = 0;
    if (QFileInfo::exists(seed + "/checkpoint.safetensors")) {
      const std::string error = kdtest::error_of([&] {
        const auto meta = kd::read_safetensors((seed + "/checkpoint.safetensors").toStdString()).metadata;
        if (meta.at("format") != "kdstudio-checkpoint") throw kd::Error("not a checkpoint");
        epochsDone = std::stoi(meta.at("epochs_done"));
      });
      if (error != "<no error>") {
        QTest::qFail(qPrintable("checkpoint unreadable: " + QString::fromStdString(error)),
                     __FILE__, __LINE__);
        return true;
      }
    }
    // epochs.jsonl is rewritten whole after the checkpoint: it lags it by at most one epoch.
    const QList<QByteArray> lines = readAll(seed + "/epochs.jsonl").split('\n');
    int complete = 0;
    for (const QByteArray& line : lines) {
      if (line.trimmed().isEmpty()) continue;
      QJsonDocument::fromJson(line, &e);
      if (e.error != QJsonParseError::NoError) {
        QTest::qFail("epochs.jsonl has a torn line", __FILE__, __LINE__);
        return true;
      }
      ++complete;
    }
    if (complete > epochsDone || complete < epochsDone - 1) {
      QTest::qFail(qPrintable(QString("epochs.jsonl has %1 lines, the checkpoint %2 epochs")
                                  .arg(complete)
                                  .arg(epochsDone)),
                   __FILE__, __LINE__);
    }
    if (QFileInfo::exists(seed + "/student.kdmodel")) {
      const std::string error =
          kdtest::error_of([&] { kd::load_model((seed + "/student.kdmodel").toStdString()); });
      if (error != "<no error>") {
        QTest::qFail(qPrintable("student.kdmodel unreadable: " + QString::fromStdString(error)),
                     __FILE__, __LINE__);
      }
    }
    return true;
  }

 private slots:
  void initTestCase() {
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST not installed");
    QVERIFY(m_dir.isValid());
    m_config = m_dir.filePath("kill.json");
    QFile f(m_config);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(kConfig);
  }

  void uninterruptedReference() {
    const QString root = m_dir.filePath("reference");
    QProcess p;
    QElapsedTimer clock;
    clock.start();
    start(p, trainArgs(root));
    QVERIFY(p.waitForFinished(kTimeoutMs));
    m_referenceMs = clock.elapsed();
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    const QStringList runs = QDir(root).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    QCOMPARE(runs.size(), 1);
    m_runName = runs[0];
    m_reference = root + "/" + m_runName;
    qInfo("uninterrupted run: %lld ms", m_referenceMs);
  }

  void killedRunsResumeToTheSameResult() {
    if (m_reference.isEmpty()) uninterruptedReference();
    const int trials = qEnvironmentVariableIsSet("KD_KILL_TRIALS")
                           ? qEnvironmentVariableIntValue("KD_KILL_TRIALS")
                           : 30;
    std::mt19937 rng(20251124);
    const QJsonObject reference =
        QJsonDocument::fromJson(readAll(m_reference + "/result.json")).object();
    const QJsonObject refSeed = reference["seeds"].toArray()[0].toObject();
    const auto refStudent = tensorsOf(m_reference + "/seed-4/student.kdmodel");
    const QByteArray refEpochs = readAll(m_reference + "/seed-4/epochs.jsonl");
    QElapsedTimer clock;
    clock.start();
    int resumes = 0;
    for (int t = 0; t < trials; ++t) {
      const QString root = m_dir.filePath(QString("trial-%1").arg(t));
      const QString run = root + "/" + m_runName;
      int killsLeft = 1 + std::uniform_int_distribution<int>(0, 2)(rng);  // 1 to 3 per trial
      int mode = t % 3;
      for (int attempt = 0; attempt < 10; ++attempt) {
        const bool exists = checkReadable(run);
        if (QTest::currentTestFailed()) QFAIL(qPrintable(QString("trial %1").arg(t)));
        if (exists && QJsonDocument::fromJson(readAll(run + "/result.json"))
                          .object()["complete"]
                          .toBool()) {
          break;
        }
        QProcess p;
        // A killed run whose folder is not created yet is trained again; otherwise resumed.
        start(p, exists ? QStringList{"--threads", "1", "resume", run} : trainArgs(root));
        resumes += exists ? 1 : 0;
        QVERIFY(p.waitForStarted());
        if (killsLeft > 0) {
          --killsLeft;
          if (runAndKill(p, mode, rng, run)) {
            mode = std::uniform_int_distribution<int>(0, 2)(rng);
            continue;
          }
        }
        // waitForFinished() returns false for a process that has already ended: that happens
        // when the process finished before the chosen kill moment.
        QVERIFY(p.state() == QProcess::NotRunning || p.waitForFinished(kTimeoutMs));
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
                 qPrintable(QString("trial %1: ").arg(t) + p.readAllStandardError()));
      }
      // Complete, clean, and equal to the uninterrupted run.
      const QJsonObject result = QJsonDocument::fromJson(readAll(run + "/result.json")).object();
      QVERIFY2(result["complete"].toBool(), qPrintable(QString("trial %1 did not complete").arg(t)));
      const QJsonObject seed = result["seeds"].toArray()[0].toObject();
      QCOMPARE(seed["last_test_acc"].toDouble(), refSeed["last_test_acc"].toDouble());
      QCOMPARE(seed["best_test_acc"].toDouble(), refSeed["best_test_acc"].toDouble());
      QCOMPARE(seed["best_epoch"].toInt(), refSeed["best_epoch"].toInt());
      QCOMPARE(readAll(run + "/seed-4/epochs.jsonl").size() > 0, true);
      const QList<QByteArray> a = readAll(run + "/seed-4/epochs.jsonl").split('\n');
      const QList<QByteArray> b = refEpochs.split('\n');
      QCOMPARE(a.size(), b.size());
      for (int i = 0; i < a.size(); ++i) {
        if (b[i].isEmpty()) continue;
        const QJsonObject x = QJsonDocument::fromJson(a[i]).object();
        const QJsonObject y = QJsonDocument::fromJson(b[i]).object();
        for (const char* key : {"epoch", "loss", "train_acc", "test_acc", "test_loss", "lr"}) {
          QCOMPARE(x[key].toDouble(), y[key].toDouble());
        }
      }
      const auto student = tensorsOf(run + "/seed-4/student.kdmodel");
      QCOMPARE(student.size(), refStudent.size());
      for (const auto& [name, tensor] : student) {
        QVERIFY2(torch::equal(tensor, refStudent.at(name)), name.c_str());
      }
      QVERIFY2(!hasTemporary(run), qPrintable(QString("trial %1 left a temporary").arg(t)));
    }
    qInfo("%d trials, %d kills (%d during a checkpoint write), %d resumes, %lld s", trials, m_kills,
          m_killsInCheckpoint, resumes, clock.elapsed() / 1000);
    QVERIFY2(m_kills >= trials, qPrintable(QString::number(m_kills)));
    QVERIFY2(m_killsInCheckpoint >= trials / 6, qPrintable(QString::number(m_killsInCheckpoint)));
  }
};

QTEST_APPLESS_MAIN(TestKillResume)
#include "test_kill_resume_slow.moc"
