// kdstudio-cli train, resume, export and demo as a user runs them: the run folder and its files
// (docs/run-folders.md), the config hash in the folder name, Ctrl-C and resume giving the numbers
// of an uninterrupted run, exports that load back (and, for TorchScript, reproduce the run's
// test accuracy when evaluated independently), and errors that name the problem.
#include <signal.h>
#include <sys/types.h>
#include <torch/script.h>

#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QtTest/QtTest>

#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "data/transforms.h"
#include "io/safetensors.h"
#include "models/model_loader.h"
#include "models/scripted_model.h"
#include "test_util.h"

#include "cli_test_util.h"

namespace {

/// A Fashion-MNIST student that trains an epoch of 200 images in well under a second.
const QString kStudent = QStringLiteral("resnet9:channels=1,size=28,width=0.125");
/// Longest wait for one CLI invocation.
constexpr int kTimeoutMs = 300000;
const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

using kdtest::readAll;
using kdtest::readJson;
using kdtest::Run;

void writeAll(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  QVERIFY2(f.open(QIODevice::WriteOnly | QIODevice::Truncate), qPrintable(path));
  f.write(bytes);
}


/// The JSON objects of a .jsonl file, one per line.
QList<QJsonObject> readJsonLines(const QString& path) {
  QList<QJsonObject> out;
  for (const QByteArray& line : readAll(path).split('\n')) {
    if (!line.trimmed().isEmpty()) out << QJsonDocument::fromJson(line).object();
  }
  return out;
}

/// The run folders directly under `root`, sorted by name.
QStringList runFolders(const QString& root) {
  QStringList out;
  for (const QString& name : QDir(root).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
    out << QDir(root).filePath(name);
  }
  return out;
}

/// A small config: method student on Fashion-MNIST subsets, CPU, with `settings` on top.
QByteArray configText(const QJsonObject& settings = {}) {
  QJsonObject o{{"format", "kdstudio-experiment"},
                {"dataset", "fashion-mnist"},
                {"student", kStudent},
                {"method", "student"},
                {"train_per_class", 20},
                {"test_per_class", 20},
                {"epochs", 1},
                {"seeds", 1},
                {"batch_size", 50},
                {"device", "cpu"}};
  for (auto it = settings.begin(); it != settings.end(); ++it) o[it.key()] = it.value();
  return QJsonDocument(o).toJson();
}

std::map<std::string, torch::Tensor> studentTensors(const QString& checkpoint) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : kd::read_safetensors(checkpoint.toStdString()).tensors) {
    if (name.rfind("student.", 0) == 0) out[name] = t;
  }
  return out;
}

}  // namespace

class TestCliTrain : public QObject {
  Q_OBJECT

  Run runCli(const QStringList& args) const {
    QProcess p;
    p.setProcessEnvironment(environment());
    p.start(KD_CLI_PATH, args);
    if (!p.waitForFinished(kTimeoutMs)) return {};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
  }

  QString path(const QString& name) const { return m_dir.filePath(name); }

  /// Writes a config file into the test folder and returns its path.
  QString config(const QString& name, const QByteArray& text) const {
    const QString p = path(name);
    QFile f(p);
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(text);
    return p;
  }

  QProcessEnvironment environment() const {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("KDSTUDIO_CACHE_DIR", m_dir.filePath("cache"));  // no analysis cache outside
    return env;
  }

  /// The two-seed, two-epoch run several cases read (trained by trainWritesRunFolder, or here
  /// when a case runs alone).
  QString baseRun() {
    if (m_baseRun.isEmpty()) trainWritesRunFolder();
    return m_baseRun;
  }

  QTemporaryDir m_dir;
  QString m_baseConfig, m_baseRun;
  /// What the base config file holds, byte for byte (deliberately not in our writer's layout).
  const QByteArray m_baseText =
      "{\"student\": \"resnet9:channels=1,size=28,width=0.125\",  \"method\": \"student\",\n"
      "  \"train_per_class\": 20, \"test_per_class\": 20, \"epochs\": 2, \"seeds\": 2,\n"
      "  \"batch_size\": 50, \"device\": \"cpu\"}\n\n";

 private slots:
  void initTestCase() {
    if (!QFileInfo::exists(kFashionDir)) QSKIP("Fashion-MNIST not installed");
    QVERIFY(m_dir.isValid());
  }

  void helpHasExamples_data() {
    QTest::addColumn<QString>("command");
    for (const char* c : {"train", "resume", "export", "demo"}) QTest::newRow(c) << c;
  }

  void helpHasExamples() {
    QFETCH(QString, command);
    const Run r = runCli({command, "--help"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("Example"), qPrintable(r.out));
  }

  void trainWritesRunFolder() {
    m_baseConfig = config("base.json", m_baseText);
    const QString root = path("base");
    const Run r = runCli({"train", "--config", m_baseConfig, "--out", root});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QStringList folders = runFolders(root);
    QCOMPARE(folders.size(), 1);
    const QString dir = folders[0];
    const QString name = QFileInfo(dir).fileName();
    const QRegularExpressionMatch m = QRegularExpression("^student-([0-9a-f]{8})$").match(name);
    QVERIFY2(m.hasMatch(), qPrintable(name));

    // The plan, then the table.
    const QStringList printed = {"Experiment: ",
                                 "Data:       Fashion-MNIST, 200 training / 200 test images",
                                 "Student:    " + kStudent,
                                 "2 epochs, batch 50, 2 seeds from 0",
                                 "Run folder: " + dir,
                                 "seed  epochs  best %  best epoch  last %",
                                 "(mean +- std over 2 seeds)",
                                 "Results in " + dir + "/result.json"};
    for (const QString& line : printed) {
      QVERIFY2(r.out.contains(line), qPrintable(line + "\n---\n" + r.out));
    }
    QCOMPARE(readAll(dir + "/config.json"), m_baseText);
    const QJsonObject resolved = readJson(dir + "/resolved.json");
    QCOMPARE(resolved["format"].toString(), QString("kdstudio-experiment"));
    QCOMPARE(resolved["epochs"].toInt(), 2);
    QCOMPARE(resolved["lr"].toDouble(), 0.0075);  // ResNet's default peak LR, made explicit
    QCOMPARE(resolved["weight_decay"].toDouble(), 0.01);

    const QJsonObject result = readJson(dir + "/result.json");
    QCOMPARE(result["format"].toString(), QString("kdstudio-result"));
    QCOMPARE(result["config_hash"].toString(), m.captured(1));
    QVERIFY(result["complete"].toBool());
    QCOMPARE(result["device"].toString(), QString("cpu"));
    QVERIFY(result["timings"].toObject()["total_seconds"].toDouble() > 0);
    QVERIFY(result["timings"].toObject().contains("teacher_cache_seconds"));
    QVERIFY(result["versions"].toObject()["libraries"].toString().contains("LibTorch"));
    QVERIFY(!result["versions"].toObject()["kdstudio"].toString().isEmpty());
    const QJsonArray seeds = result["seeds"].toArray();
    QCOMPARE(seeds.size(), 2);
    const int studentTensorCount =
        static_cast<int>(kd::load_model(kStudent.toStdString()).model->named_state().size());
    QVector<double> best, last;
    for (int i = 0; i < 2; ++i) {
      const QJsonObject s = seeds[i].toObject();
      QCOMPARE(s["seed"].toInt(), i);
      QCOMPARE(s["epochs"].toInt(), 2);
      const QString seedDir = dir + "/seed-" + QString::number(i);
      const QList<QJsonObject> epochs = readJsonLines(seedDir + "/epochs.jsonl");
      QCOMPARE(epochs.size(), 2);
      double bestEpochAcc = -1;
      for (int e = 0; e < 2; ++e) {
        QCOMPARE(epochs[e]["epoch"].toInt(), e);
        for (const char* key : {"loss", "train_acc", "test_loss", "lr", "seconds"}) {
          QVERIFY2(epochs[e][key].isDouble(), key);
        }
        QVERIFY(epochs[e]["losses"].toObject().contains("ce"));
        bestEpochAcc = std::max(bestEpochAcc, epochs[e]["test_acc"].toDouble());
      }
      QCOMPARE(s["last_test_acc"].toDouble(), epochs[1]["test_acc"].toDouble());
      QCOMPARE(s["best_test_acc"].toDouble(), bestEpochAcc);
      // 200 images in batches of 50, log_every 10: one step line at each epoch's last batch.
      const QList<QJsonObject> steps = readJsonLines(seedDir + "/steps.jsonl");
      QCOMPARE(steps.size(), 2);
      QCOMPARE(steps[1]["step"].toInt(), 8);
      QVERIFY(QFileInfo::exists(seedDir + "/student.kdmodel"));
      QVERIFY(!QFileInfo::exists(seedDir + "/student.pt"));

      const kd::SafetensorsContent ckpt =
          kd::read_safetensors((seedDir + "/checkpoint.safetensors").toStdString());
      const auto meta = [&](const char* key) {
        return QString::fromStdString(ckpt.metadata.at(key));
      };
      QCOMPARE(meta("format"), QString("kdstudio-checkpoint"));
      QCOMPARE(meta("epochs_done"), QString("2"));
      QCOMPARE(meta("step"), QString("8"));  // 4 batches in each of 2 epochs
      QCOMPARE(meta("seed"), QString::number(i));
      QVERIFY(std::stod(ckpt.metadata.at("seconds")) > 0);
      QCOMPARE(QJsonDocument::fromJson(QByteArray::fromStdString(ckpt.metadata.at("history")))
                   .array()
                   .size(),
               2);
      int studentCount = 0;
      for (const auto& [tensor, value] : ckpt.tensors) {
        const bool student = tensor.rfind("student.", 0) == 0;
        studentCount += student ? 1 : 0;
        QVERIFY2(student || tensor.rfind("optim.", 0) == 0, tensor.c_str());
      }
      QCOMPARE(studentCount, studentTensorCount);
      // The seed's row of the table: seed, epochs, best %, best epoch (1-based), last %, time.
      const QString row = QString("\\n *%1  +2  +%2  +%3  +%4  +\\S+\\n")
                              .arg(i)
                              .arg(QRegularExpression::escape(
                                  QString::number(s["best_test_acc"].toDouble(), 'f', 2)))
                              .arg(s["best_epoch"].toInt() + 1)
                              .arg(QRegularExpression::escape(
                                  QString::number(s["last_test_acc"].toDouble(), 'f', 2)));
      QVERIFY2(QRegularExpression(row).match(r.out).hasMatch(), qPrintable(row + "\n" + r.out));
      best << s["best_test_acc"].toDouble();
      last << s["last_test_acc"].toDouble();
    }
    // Mean and population standard deviation over the two seeds.
    QCOMPARE(result["last_test_acc_mean"].toDouble(), (last[0] + last[1]) / 2);
    QVERIFY(qAbs(result["last_test_acc_std"].toDouble() - qAbs(last[0] - last[1]) / 2) < 1e-9);
    QCOMPARE(result["best_test_acc_mean"].toDouble(), (best[0] + best[1]) / 2);
    QVERIFY(qAbs(result["best_test_acc_std"].toDouble() - qAbs(best[0] - best[1]) / 2) < 1e-9);
    m_baseRun = dir;
  }

  void runFolderIsNamedByHash() {
    const QString dir = baseRun();
    QVERIFY2(!dir.isEmpty(), "the base run failed");
    const QString root = QFileInfo(dir).path();
    Run r = runCli({"train", "--config", m_baseConfig, "--out", root});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("error: this experiment has been run already: " + dir),
             qPrintable(r.err));
    QVERIFY(r.err.contains("--restart"));

    // Settings that do not change the numbers keep the folder: the run is found again.
    for (const auto& [key, value] :
         {std::pair<QString, QJsonValue>{"device", "auto"}, {"log_every", 1}}) {
      const QString cfg =
          config("same.json", configText({{"epochs", 2}, {"seeds", 2}, {key, value}}));
      r = runCli({"train", "--config", cfg, "--out", root});
      QCOMPARE(r.code, 1);
      QVERIFY2(r.err.contains("already: " + dir), qPrintable(key + ": " + r.err));
    }
    // Another number of epochs is another experiment.
    const QString other = config("other.json", configText({{"seeds", 2}}));
    r = runCli({"train", "--config", other, "--out", root});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QStringList folders = runFolders(root);
    QCOMPARE(folders.size(), 2);
    QVERIFY(folders.contains(dir));
    const QString otherDir = folders[0] == dir ? folders[1] : folders[0];
    QVERIFY(QRegularExpression("/student-[0-9a-f]{8}$").match(otherDir).hasMatch());
    QVERIFY(r.out.contains("Run folder: " + otherDir));

    // Training it again fails too; --restart empties the folder and trains again, to the same
    // numbers (CPU, fixed seeds).
    r = runCli({"train", "--config", other, "--out", root});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("already: " + otherDir), qPrintable(r.err));
    const QJsonObject before = readJson(otherDir + "/result.json");
    writeAll(otherDir + "/marker", "x");
    r = runCli({"train", "--config", other, "--out", root, "--restart"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY(!QFileInfo::exists(otherDir + "/marker"));
    const QJsonObject after = readJson(otherDir + "/result.json");
    QCOMPARE(after["last_test_acc_mean"].toDouble(), before["last_test_acc_mean"].toDouble());
    QCOMPARE(runFolders(root).size(), 2);
  }

  void resumeAfterInterrupt() {
    // 600 training images in 12 batches per epoch: an epoch takes long enough (about a second)
    // to be interrupted in, and 3 epochs leave two of them after the first one is seen.
    const QString cfg = config("resume.json", configText({{"train_per_class", 60}, {"epochs", 3}}));
    const QString root = path("interrupted");
    QProcess p;
    p.setProcessEnvironment(environment());
    p.start(KD_CLI_PATH, {"train", "--config", cfg, "--out", root});
    QVERIFY(p.waitForStarted());
    QString epochsFile;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < kTimeoutMs && !p.waitForFinished(20)) {
      QDirIterator it(root, {"epochs.jsonl"}, QDir::Files, QDirIterator::Subdirectories);
      if (it.hasNext() && !readJsonLines(epochsFile = it.next()).isEmpty()) break;
    }
    if (p.state() == QProcess::NotRunning) {
      QFAIL(qPrintable("the run ended (exit " + QString::number(p.exitCode()) +
                       ") before it could be interrupted after its first epoch; give the resume "
                       "config longer epochs\n" +
                       QString::fromUtf8(p.readAllStandardError())));
    }
    if (clock.elapsed() >= kTimeoutMs) {
      p.kill();
      p.waitForFinished();
      QFAIL("no epoch finished in time");
    }
    QCOMPARE(::kill(static_cast<pid_t>(p.processId()), SIGINT), 0);
    QVERIFY(p.waitForFinished(kTimeoutMs));
    const QString err = QString::fromUtf8(p.readAllStandardError());
    const QString dir = QFileInfo(epochsFile).path().section('/', 0, -2);
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QVERIFY2(p.exitCode() == 130, qPrintable(err));
    QVERIFY2(err.contains("continue with: kdstudio-cli resume " + dir), qPrintable(err));
    const int done = static_cast<int>(readJsonLines(epochsFile).size());
    QVERIFY2(done >= 1 && done < 3, qPrintable(QString::number(done)));
    QVERIFY(!QFileInfo::exists(dir + "/result.json"));
    const auto meta =
        kd::read_safetensors((dir + "/seed-0/checkpoint.safetensors").toStdString()).metadata;
    QCOMPARE(QString::fromStdString(meta.at("epochs_done")), QString::number(done));

    Run r = runCli({"export", dir, "--format", "safetensors", "--out", path("none.kdmodel")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("error: seed 0 of " + dir + " has no final student yet"),
             qPrintable(r.err));

    r = runCli({"resume", dir});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("resuming after epoch " + QString::number(done)), qPrintable(r.err));
    QVERIFY(r.out.contains("Last test accuracy"));
    const QList<QJsonObject> epochs = readJsonLines(epochsFile);
    QCOMPARE(epochs.size(), 3);
    for (int e = 0; e < 3; ++e) QCOMPARE(epochs[e]["epoch"].toInt(), e);

    // The same experiment without interruption, in another folder: the same numbers and weights.
    const QString straightRoot = path("straight");
    r = runCli({"train", "--config", cfg, "--out", straightRoot});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QString straight = straightRoot + "/" + QFileInfo(dir).fileName();
    const QList<QJsonObject> straightEpochs = readJsonLines(straight + "/seed-0/epochs.jsonl");
    QCOMPARE(straightEpochs.size(), 3);
    for (int e = 0; e < 3; ++e) {
      QCOMPARE(epochs[e]["test_acc"].toDouble(), straightEpochs[e]["test_acc"].toDouble());
      QCOMPARE(epochs[e]["loss"].toDouble(), straightEpochs[e]["loss"].toDouble());
    }
    const QJsonObject a = readJson(dir + "/result.json")["seeds"].toArray()[0].toObject();
    const QJsonObject b = readJson(straight + "/result.json")["seeds"].toArray()[0].toObject();
    QCOMPARE(a["last_test_acc"].toDouble(), b["last_test_acc"].toDouble());
    QCOMPARE(a["best_test_acc"].toDouble(), b["best_test_acc"].toDouble());
    const auto resumed = studentTensors(dir + "/seed-0/checkpoint.safetensors");
    const auto uninterrupted = studentTensors(straight + "/seed-0/checkpoint.safetensors");
    QCOMPARE(resumed.size(), uninterrupted.size());
    for (const auto& [name, t] : resumed)
      QVERIFY2(torch::equal(t, uninterrupted.at(name)), name.c_str());
  }

  void exportSafetensors() {
    const QString dir = baseRun();
    QVERIFY2(!dir.isEmpty(), "the base run failed");
    const QString out = path("student.kdmodel");
    Run r = runCli({"export", dir, "--format", "safetensors", "--out", out});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY(r.out.contains("wrote " + out));
    // The run's student with the same tensors and metadata (the export rewrites the file with
    // the deployment keys, which a new run's student already carries).
    const kd::SafetensorsContent exported = kd::read_safetensors(out.toStdString());
    const kd::SafetensorsContent source = kd::read_safetensors((dir + "/seed-0/student.kdmodel").toStdString());
    QCOMPARE(exported.tensors.size(), source.tensors.size());
    for (size_t i = 0; i < exported.tensors.size(); ++i) {
      QCOMPARE(exported.tensors[i].first, source.tensors[i].first);
      QVERIFY(torch::equal(exported.tensors[i].second, source.tensors[i].second));
    }
    for (const auto& [key, value] : source.metadata) QCOMPARE(exported.metadata.at(key), value);
    QVERIFY(exported.metadata.count("kd.mean") && exported.metadata.count("kd.class_names"));
    const kd::LoadedModel loaded = kd::load_model(out.toStdString());
    QVERIFY(loaded.origin == kd::ModelOrigin::kModelFile);
    QCOMPARE(loaded.model->architecture(),
             kd::load_model(kStudent.toStdString()).model->architecture());
    const double acc =
        readJson(dir + "/result.json")["seeds"].toArray()[0].toObject()["last_test_acc"].toDouble();
    QCOMPARE(std::stod(loaded.metadata.at("test_accuracy")), acc);

    r = runCli({"export", dir, "--format", "safetensors", "--out", out, "--seed", "1"});
    QCOMPARE(r.code, 0);
    QCOMPARE(kd::read_safetensors(out.toStdString()).metadata.at("seed"), std::string("1"));

    r = runCli({"export", dir, "--format", "torchscript", "--out", path("student.pt")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(
                 "error: this run's student is a zoo model: export it with --format safetensors"),
             qPrintable(r.err));
    QVERIFY(!QFileInfo::exists(path("student.pt")));
  }

  void exportTorchScriptStudent() {
    const QString fixture =
        QString::fromStdString(kdtest::fixture("ts_seq_cnn.pt"));  // 1x28x28, 10 classes
    const QString cfg = config("ts.json", configText({{"student", fixture}}));
    const QString root = path("ts");
    Run r = runCli({"train", "--config", cfg, "--out", root});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QString dir = runFolders(root).value(0);
    QVERIFY(QFileInfo::exists(dir + "/seed-0/student.pt"));
    QVERIFY(!QFileInfo::exists(dir + "/seed-0/student.kdmodel"));

    r = runCli({"export", dir, "--format", "safetensors", "--out", path("ts.kdmodel")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("--format torchscript"), qPrintable(r.err));
    const QString out = path("ts_student.pt");
    r = runCli({"export", dir, "--format", "torchscript", "--out", out});
    QVERIFY2(r.code == 0, qPrintable(r.err));

    const auto wrapped = kd::load_torchscript(out.toStdString());
    QCOMPARE(wrapped->num_classes(), int64_t{10});
    QCOMPARE(wrapped->input_shape().height, int64_t{28});

    // Evaluate the export with plain TorchScript on the run's test subset, normalized with the
    // whole training split's statistics, as the trainer does (experiment_setup.cpp).
    torch::jit::Module module = torch::jit::load(out.toStdString());
    module.eval();
    torch::jit::Module original = torch::jit::load(fixture.toStdString());
    bool changed = false;
    const auto trained = module.named_parameters();
    for (const auto& p : original.named_parameters()) {
      for (const auto& q : trained)
        changed = changed || (q.name == p.name && !torch::equal(q.value, p.value));
    }
    QVERIFY2(changed, "the export holds the untrained fixture's weights");
    const kd::Dataset data = kd::load_dataset("fashion-mnist");
    const kd::ChannelStats stats = kd::compute_channel_stats(data.train);
    const std::vector<int64_t> indices = kd::balanced_subset(data.test.labels, 10, 20, /*seed=*/0);
    const torch::Tensor rows = torch::tensor(indices);
    torch::NoGradGuard no_grad;
    const torch::Tensor images =
        kd::to_normalized_float(data.test.images.index_select(0, rows), stats);
    const torch::Tensor logits = module.forward({images}).toTensor();
    const double correct =
        logits.argmax(1).eq(data.test.labels.index_select(0, rows)).sum().item<double>();
    const double acc =
        readJson(dir + "/result.json")["seeds"].toArray()[0].toObject()["last_test_acc"].toDouble();
    QCOMPARE(100.0 * correct / static_cast<double>(indices.size()), acc);

    // The same trained student as ONNX: its operators map, and OpenCV's run of the file is
    // checked against LibTorch's before anything is written.
    const QString onnx = path("ts_student.onnx");
    r = runCli({"export", dir, "--format", "onnx", "--out", onnx});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("ONNX checker and strict shape inference: passed"), qPrintable(r.out));
    QVERIFY2(r.out.contains("OpenCV DNN matches LibTorch on 16 fixed images"), qPrintable(r.out));
    QVERIFY(QFileInfo(onnx).size() > 0);
  }

  void errors_data() {
    QTest::addColumn<QStringList>("args");  // "{cfg}" = the config below, "{dir}" = the test folder
    QTest::addColumn<QByteArray>("configText");
    QTest::addColumn<QString>("needle");
    const QStringList train = {"train", "--config", "{cfg}", "--out", "{dir}/err-runs"};
    QTest::newRow("missing config")
        << QStringList{"train", "--config", "{dir}/none.json"} << QByteArray() << "none.json";
    QTest::newRow("unknown key") << train << configText({{"epoch", 2}})
                                 << "unknown key 'epoch' (did you mean 'epochs'?)";
    QTest::newRow("kd without teacher")
        << train << configText({{"method", "kd"}}) << "method 'kd' needs a teacher";
    // Teacher layers by Q (the default of "ours"): the student list fails before the analysis.
    QTest::newRow("student layer out of range")
        << train
        << configText(
               {{"method", "ours"}, {"teacher", kStudent}, {"student_layers", QJsonArray{1, 99}}})
        << "student_layers: layer 99 is out of range: " + kStudent + " has layers 0-5";
    QTest::newRow("class counts") << train
                                  << configText(
                                         {{"method", "kd"}, {"teacher", kStudent + ",classes=5"}})
                                  << "the teacher has 5 classes and the student 10";
    QTest::newRow("resume a plain folder")
        << QStringList{"resume", "{dir}"} << QByteArray() << "is not a KD Studio run folder";
    // A run folder whose training never finished a seed: resolved.json only.
    QTest::newRow("export unfinished")
        << QStringList{"export", "{dir}/unfinished", "--format", "safetensors",
                       "--out",  "{dir}/x.kdmodel"}
        << QByteArray() << "has no final student yet";
  }

  void errors() {
    QFETCH(QStringList, args);
    QFETCH(QByteArray, configText);
    QFETCH(QString, needle);
    QDir(m_dir.path()).mkpath("unfinished");
    writeAll(path("unfinished/resolved.json"), ::configText());
    const QString cfg = config("error.json", configText);
    for (QString& a : args) a.replace("{cfg}", cfg).replace("{dir}", m_dir.path());
    const Run r = runCli(args);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("error: "), qPrintable(r.err));
    QVERIFY2(r.err.contains(needle), qPrintable(r.err));
    QVERIFY2(r.out.isEmpty(), qPrintable(r.out));
  }
};

QTEST_APPLESS_MAIN(TestCliTrain)
#include "test_cli_train.moc"
