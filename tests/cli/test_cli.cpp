// kdstudio-cli as a user runs it: exit codes, the inspect table and JSON (layer counts of
// method.md section 1), the data command on Fashion-MNIST, and clear errors.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <cmath>
#include <QtTest/QtTest>

#include "test_util.h"

namespace {

/// A small Fashion-MNIST-size model that analyses in seconds.
const QString kSmall = QStringLiteral("resnet9:channels=1,size=28,width=0.125");

struct Run {
  int code = -1;
  QString out, err;
};

Run runCli(const QStringList& args, const QString& cacheDir = QString()) {
  QProcess p;
  if (!cacheDir.isEmpty()) {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("KDSTUDIO_CACHE_DIR", cacheDir);
    p.setProcessEnvironment(env);
  }
  p.start(KD_CLI_PATH, args);
  if (!p.waitForFinished(300000)) return {};
  return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
          QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class TestCli : public QObject {
  Q_OBJECT

 private slots:
  void version() {
    const Run r = runCli({"--version"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.startsWith("kdstudio-cli 0."), qPrintable(r.out));
    QVERIFY(r.out.contains("LibTorch"));
  }

  void inspectJsonLayerCounts_data() {
    QTest::addColumn<QString>("spec");
    QTest::addColumn<int>("layers");
    QTest::addColumn<QString>("firstShape");
    QTest::newRow("resnet9") << "resnet9" << 6 << "64,32,32";
    QTest::newRow("resnet34") << "resnet34" << 18 << "64,32,32";
    QTest::newRow("mobilenetv2") << "mobilenetv2" << 20 << "32,32,32";
    QTest::newRow("vgg11_bn") << "vgg11_bn" << 11 << "64,32,32";
    QTest::newRow("vgg19_bn") << "vgg19_bn" << 19 << "64,32,32";
    QTest::newRow("vit_b") << "vit_b" << 13 << "65,768";
    QTest::newRow("vit_ett") << "vit_ett" << 9 << "65,192";
    QTest::newRow("fashion resnet9") << "resnet9:channels=1,size=28,width=0.25" << 6 << "16,28,28";
  }

  void inspectJsonLayerCounts() {
    QFETCH(QString, spec);
    QFETCH(int, layers);
    QFETCH(QString, firstShape);
    const Run r = runCli({"inspect", "--model", spec, "--json"});
    QCOMPARE(r.code, 0);
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out.toUtf8(), &err);
    QVERIFY2(err.error == QJsonParseError::NoError, qPrintable(err.errorString()));
    const QJsonArray arr = doc.object()["layers"].toArray();
    QCOMPARE(arr.size(), layers);
    for (int i = 0; i < arr.size(); ++i) {
      const QJsonObject l = arr[i].toObject();
      QCOMPARE(l["index"].toInt(), i);
      QVERIFY(!l["name"].toString().isEmpty());
      QVERIFY(l["shape"].isArray());
      QVERIFY(l["params"].isDouble());
    }
    QStringList dims;
    for (const auto& d : arr[0].toObject()["shape"].toArray()) dims << QString::number(d.toInt());
    QCOMPARE(dims.join(','), firstShape);
  }

  void inspectTable() {
    const Run r = runCli({"inspect", "-m", "resnet9:channels=1,size=28"});
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.contains("Generalized layers: 6"));
    QVERIFY(r.out.contains("Parameters: 4,902,090"));  // 4,903,242 - (3-1)*64*9 stem weights
    QVERIFY(r.out.contains("512x4x4"));
  }

  void inspectTorchScript() {
    const Run r = runCli({"inspect", "-m", QString::fromStdString(kdtest::fixture("ts_resnet_trace.pt")), "--json"});
    QCOMPARE(r.code, 0);
    const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QCOMPARE(o["origin"].toString(), QString("TorchScript"));
    QCOMPARE(o["layers"].toArray().size(), 5);
  }

  void errors_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("needle");
    QTest::newRow("unknown model") << QStringList{"inspect", "-m", "resnet50"} << 1 << "unknown model 'resnet50'";
    QTest::newRow("missing file") << QStringList{"inspect", "-m", "/tmp/none/x.pt"} << 1 << "does not exist";
    QTest::newRow("bad option") << QStringList{"inspect", "-m", "resnet9:width=0"} << 1 << "width=0";
    QTest::newRow("bad input shape") << QStringList{"inspect", "-m", "resnet9", "--input", "3x32"} << 1 << "CxHxW";
    QTest::newRow("no model") << QStringList{"inspect"} << 106 << "--model is required";
    QTest::newRow("no command") << QStringList{} << 106 << "subcommand";
    QTest::newRow("bad data") << QStringList{"data", "--data", "cifar10:/nonexistent"} << 1 << "/nonexistent";
  }

  void errors() {
    QFETCH(QStringList, args);
    QFETCH(int, code);
    QFETCH(QString, needle);
    const Run r = runCli(args);
    QCOMPARE(r.code, code);
    QVERIFY2(r.err.contains(needle), qPrintable(r.err));
    QVERIFY(r.out.isEmpty() || code != 1);
  }

  void analyzeJson() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    QTemporaryDir cache;
    const QStringList args = {"analyze", "-m", kSmall, "--per-class", "10", "--per-class-b", "10",
                              "--geometry-samples", "60", "--top-k", "3", "--json"};
    const Run r = runCli(args, cache.path());
    QCOMPARE(r.code, 0);
    const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    const QJsonArray layers = o["layers"].toArray();
    QCOMPARE(layers.size(), 6);
    for (const auto& v : layers) {
      const QJsonObject l = v.toObject();
      for (const char* key : {"index", "name", "S", "I", "E", "Q"}) QVERIFY2(l.contains(key), key);
      // Q = S + sqrt(I * E)
      QVERIFY(qAbs(l["Q"].toDouble() - (l["S"].toDouble() + std::sqrt(l["I"].toDouble() * l["E"].toDouble()))) < 1e-9);
    }
    QCOMPARE(o["recommended"].toArray().size(), 3);
    QCOMPARE(o["sample_a"].toInt(), 100);
    QVERIFY(!o["from_cache"].toBool());
    const Run again = runCli(args, cache.path());  // the same analysis comes from the cache
    QCOMPARE(again.code, 0);
    const QJsonObject o2 = QJsonDocument::fromJson(again.out.toUtf8()).object();
    QVERIFY(o2["from_cache"].toBool());
    QCOMPARE(o2["layers"].toArray()[2].toObject()["Q"].toDouble(), layers[2].toObject()["Q"].toDouble());
  }

  void projectWritesCsv() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    QTemporaryDir dir;
    const QString out = dir.filePath("layer2.csv");
    const Run r = runCli({"project", "-m", kSmall, "--layer", "2", "--per-class", "5", "-o", out});
    QCOMPARE(r.code, 0);
    QFile f(out);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QStringList lines = QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 51);
    QCOMPARE(lines[0], QString("index,label,class,x,y"));
    QCOMPARE(lines[1].split(',').size(), 5);
  }

  void ckaJson() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    const Run r = runCli({"cka", "-t", kSmall, "-s", "vgg11_bn:channels=1,size=28,width=0.0625",
                          "--per-class", "5", "--json"});
    QCOMPARE(r.code, 0);
    const QJsonArray m = QJsonDocument::fromJson(r.out.toUtf8()).object()["cka"].toArray();
    QCOMPARE(m.size(), 6);
    QCOMPARE(m[0].toArray().size(), 11);
    for (const auto& row : m) {
      for (const auto& v : row.toArray()) QVERIFY(v.toDouble() >= -1e-9 && v.toDouble() <= 1 + 1e-9);
    }
  }

  void analysisErrors_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("needle");
    QTest::newRow("model takes other images")
        << QStringList{"analyze", "-m", "resnet9:width=0.125", "--per-class", "5"}
        << "takes 3x32x32 inputs but the dataset's images are 1x28x28";
    QTest::newRow("class count")
        << QStringList{"analyze", "-m", "resnet9:channels=1,size=28,classes=100,width=0.125"}
        << "has 100 output classes but the dataset has 10";
    QTest::newRow("top-k") << QStringList{"analyze", "-m", kSmall, "--top-k", "0"} << "--top-k must be at least 1";
    QTest::newRow("layer index") << QStringList{"project", "-m", kSmall, "--layer", "6"} << "--layer 6 is out of range";
  }

  void analysisErrors() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    QFETCH(QStringList, args);
    QFETCH(QString, needle);
    const Run r = runCli(args);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(needle), qPrintable(r.err));
  }

  // More layers asked than the model has: all of them, and a note saying so (issue 22).
  void topKAboveTheLayerCountUsesAllLayers() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    const Run r = runCli({"analyze", "-m", kSmall, "--top-k", "7", "--per-class", "5", "--geometry-samples", "0",
                          "--no-cache", "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("has 6 generalized layers, fewer than --top-k 7: all 6 are recommended"),
             qPrintable(r.err));
    const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QCOMPARE(o["recommended"].toArray().size(), 6);
  }

  void dataFashionMnist() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST not installed");
    const Run r = runCli({"data", "--json"});
    QCOMPARE(r.code, 0);
    const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QCOMPARE(o["train_size"].toInt(), 60000);
    QCOMPARE(o["test_size"].toInt(), 10000);
    QCOMPARE(o["classes"].toArray().size(), 10);
    QCOMPARE(o["classes"].toArray()[9].toString(), QString("Ankle boot"));
    // Fashion-MNIST's well-known training statistics: mean 0.2860, std 0.3530.
    QVERIFY(qAbs(o["mean"].toArray()[0].toDouble() - 0.2860) < 5e-4);
    QVERIFY(qAbs(o["std"].toArray()[0].toDouble() - 0.3530) < 5e-4);
  }
};

QTEST_APPLESS_MAIN(TestCli)
#include "test_cli.moc"
