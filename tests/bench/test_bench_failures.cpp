// kdstudio-bench-train never fails silently (issue 16: on CUDA it once exited printing nothing).
// Settings that cannot give a figure must exit non-zero with a message on stderr naming the
// problem, and print no result line; a valid run prints exactly one JSON line.
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest/QtTest>

#include <torch/cuda.h>

namespace {

constexpr int kTimeoutMs = 120000;

struct Run {
  int code = -1;
  bool crashed = true;
  QString out, err;
};

Run bench(const QStringList& args) {
  QProcess p;
  p.start(QStringLiteral(KD_BENCH_TRAIN_PATH), args);
  Run r;
  if (!p.waitForFinished(kTimeoutMs)) {
    p.kill();
    p.waitForFinished();
    return r;
  }
  r.crashed = p.exitStatus() != QProcess::NormalExit;
  r.code = p.exitCode();
  r.out = QString::fromUtf8(p.readAllStandardOutput());
  r.err = QString::fromUtf8(p.readAllStandardError());
  return r;
}

// A small pair that trains in about a second on the CPU, with `changes` replacing or adding
// options ("--batch", "0" replaces the default batch).
QStringList small(const QStringList& changes = {}) {
  QStringList keys = {"--teacher", "--student", "--batch", "--threads", "--workers"};
  QStringList values = {"resnet9:channels=1,size=28,width=0.125", "resnet9:channels=1,size=28,width=0.125",
                        "16", "1", "1"};
  QStringList extra;
  for (int i = 0; i + 1 < changes.size(); i += 2) {
    const int at = keys.indexOf(changes[i]);
    if (at >= 0) {
      values[at] = changes[i + 1];
    } else {
      extra << changes[i] << changes[i + 1];
    }
  }
  QStringList out;
  for (int i = 0; i < keys.size(); ++i) out << keys[i] << values[i];
  return out + extra;
}

}  // namespace

class TestBenchFailures : public QObject {
  Q_OBJECT

 private slots:
  void mustFail_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    QTest::newRow("no measured steps") << small({"--steps", "0"}) << "--steps must be at least 1";
    QTest::newRow("batch 0") << small({"--batch", "0"}) << "--batch must be at least 1";
    QTest::newRow("fewer images than a batch")
        << small({"--images", "8"}) << "fewer than one batch";
    QTest::newRow("too few steps to time")
        << small({"--images", "16", "--warmup", "1", "--steps", "1"}) << "too few to time";
    QTest::newRow("unknown zoo model") << small({"--student", "resnet1000"}) << "resnet1000";
    QTest::newRow("profile without the legacy API or a bad path")
        << small({"--steps", "2", "--warmup", "1", "--profile", "/nonexistent-dir/p.json"})
        << "profile";
    if (!torch::cuda::is_available()) {
      QTest::newRow("cuda on a machine without") << small({"--device", "cuda"}) << "CUDA is not available";
      QTest::newRow("bf16 cuda on a machine without")
          << (small({"--device", "cuda", "--cache", "on"}) + QStringList{"--bf16"}) << "CUDA is not available";
    } else {
      QTest::newRow("a GPU index that does not exist") << small({"--device", "cuda:99"}) << "cuda:99";
    }
  }

  void mustFail() {
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    const Run r = bench(QStringList{"--mode", "train"} + args);
    QVERIFY2(!r.crashed, qPrintable(r.err));
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.startsWith("kdstudio-bench-train: "), qPrintable(r.err));
    QVERIFY2(r.err.contains(message), qPrintable(r.err));
    QVERIFY2(r.out.trimmed().isEmpty(), qPrintable(r.out));
  }

  void validRunPrintsOneResult() {
    const Run r = bench(QStringList{"--mode", "train"} + small({"--steps", "3", "--warmup", "1"}));
    QVERIFY2(!r.crashed && r.code == 0, qPrintable(r.err));
    const QStringList lines = r.out.trimmed().split('\n');
    QCOMPARE(lines.size(), 1);
    const QJsonObject j = QJsonDocument::fromJson(lines[0].toUtf8()).object();
    QCOMPARE(j["measured_steps"].toInt(), 3);
    QVERIFY(j["images_per_second"].toDouble() > 0);
  }
};

QTEST_GUILESS_MAIN(TestBenchFailures)
#include "test_bench_failures.moc"
