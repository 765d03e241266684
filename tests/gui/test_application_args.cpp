// What `kdstudio ARG` opens (ui/application.{h,cpp}): experiment files, model files, and training
// runs given as their folder, a seed folder, their checkpoint (whatever its name: it is recognised
// by its safetensors metadata, as the MIME type's magic does) or their config.json. Opening a run
// opens its config.json as the experiment, points the Experiments page at the folder holding the
// run and selects the run there. Folders and safetensors files that are neither are refused with
// a reason, in a message box.
#include <QDir>
#include <QMessageBox>
#include <QPushButton>
#include <QTabWidget>
#include <QtTest/QtTest>

#include "shell/application.h"
#include "experiment/experiment_config.h"
#include "pages/experiments_page.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "shell/main_window.h"
#include "sweep/sweep_folder.h"
#include "sweep/sweep_spec.h"
#include "pages/sweep_panel.h"
#include "pages/training_page.h"

using kd::ui::LaunchTarget;

namespace {

constexpr int kTimeoutMs = 60000;

void writeText(const QString& path, const QString& text) {
  kd::write_file_atomically(path.toStdString(), text.toStdString());
}

void writeSafetensors(const QString& path, const std::map<std::string, std::string>& metadata) {
  kd::NamedTensors tensors;
  tensors.emplace_back("student.layers.0.conv.weight", torch::ones({2, 1, 3, 3}));
  tensors.emplace_back("optim.0.step", torch::zeros({}, torch::kLong));
  kd::write_safetensors(path.toStdString(), tensors, metadata);
}

/// A checkpoint's metadata, as SeedTrainer::save_checkpoint writes it.
std::map<std::string, std::string> checkpointMetadata() {
  return {{"format", "kdstudio-checkpoint"},
          {"epochs_done", "1"},
          {"step", "10"},
          {"seed", "0"},
          {"seconds", "1.5"},
          {"history", "[]"}};
}

QString canonical(const QString& path) { return QFileInfo(path).canonicalFilePath(); }

}  // namespace

class TestApplicationArgs : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir settingsDir_, cacheDir_, tmp_;
  QString runs_, runDir_, checkpoint_;

  /// Clicks OK in the next message box and keeps its text (run before the call that opens it).
  static void answerNextMessageBox(QString* text) {
    QTimer::singleShot(200, [text] {
      auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
      if (!box) return answerNextMessageBox(text);  // not up yet: look again
      *text = box->text();
      box->button(QMessageBox::Ok)->click();
    });
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_application_args");
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
    qputenv("KDSTUDIO_CACHE_DIR", cacheDir_.path().toUtf8());
    // A run folder as training writes it (docs/run-folders.md), with a small zoo student that
    // trains alone, so that opening it needs no teacher file.
    runs_ = tmp_.filePath("runs");
    runDir_ = runs_ + "/args-test-1a2b3c4d";
    QVERIFY(QDir().mkpath(runDir_ + "/seed-0"));
    QVERIFY(QDir().mkpath(runs_ + "/other-run-99999999/seed-0"));
    const QString config = R"({"format": "kdstudio-experiment", "version": 1, "name": "args-test",
      "dataset": "fashion-mnist", "student": "resnet9:channels=1,size=28,width=0.125",
      "method": "student", "epochs": 3, "train_per_class": 50, "seeds": 1})";
    for (const QString& dir : {runDir_, runs_ + "/other-run-99999999"}) {
      writeText(dir + "/config.json", config);
      writeText(dir + "/resolved.json", config);
    }
    checkpoint_ = runDir_ + "/seed-0/checkpoint.safetensors";
    writeSafetensors(checkpoint_, checkpointMetadata());
  }

  void checkpointOpensItsRun() {
    const LaunchTarget t = kd::ui::classifyLaunchArgument(checkpoint_);
    QCOMPARE(t.kind, LaunchTarget::Kind::kRun);
    QCOMPARE(canonical(t.runDir), canonical(runDir_));
    QCOMPARE(canonical(t.path), canonical(runDir_ + "/config.json"));
    QCOMPARE(canonical(t.runsRoot), canonical(runs_));
    QCOMPARE(kd::ui::safetensorsFormat(checkpoint_), QStringLiteral("kdstudio-checkpoint"));
  }

  void renamedCheckpointIsRecognisedByItsMetadata() {
    const QString renamed = runDir_ + "/seed-0/epoch-1.bin";
    QVERIFY(QFile::copy(checkpoint_, renamed));
    const LaunchTarget t = kd::ui::classifyLaunchArgument(renamed);
    QFile::remove(renamed);
    QCOMPARE(t.kind, LaunchTarget::Kind::kRun);
    QCOMPARE(canonical(t.runDir), canonical(runDir_));
  }

  void runFolderSeedFolderAndConfigOpenTheRun() {
    for (const QString& arg :
         {runDir_, runDir_ + "/", runDir_ + "/seed-0", runDir_ + "/config.json"}) {
      const LaunchTarget t = kd::ui::classifyLaunchArgument(arg);
      QVERIFY2(t.kind == LaunchTarget::Kind::kRun, qPrintable(arg + ": " + t.error));
      QCOMPARE(canonical(t.runDir), canonical(runDir_));
      QCOMPARE(canonical(t.path), canonical(runDir_ + "/config.json"));
      QCOMPARE(canonical(t.runsRoot), canonical(runs_));
    }
    // A relative path, as typed in a terminal.
    const QString cwd = QDir::currentPath();
    QVERIFY(QDir::setCurrent(runs_));
    const LaunchTarget t =
        kd::ui::classifyLaunchArgument("args-test-1a2b3c4d/seed-0/checkpoint.safetensors");
    QVERIFY(QDir::setCurrent(cwd));
    QCOMPARE(t.kind, LaunchTarget::Kind::kRun);
    QCOMPARE(canonical(t.runsRoot), canonical(runs_));
  }

  void experimentsAndModels() {
    QCOMPARE(kd::ui::classifyLaunchArgument(tmp_.filePath("my-experiment.json")).kind,
             LaunchTarget::Kind::kExperiment);
    // A JSON file named config.json outside a run folder is just an experiment.
    writeText(tmp_.filePath("config.json"), "{}");
    QCOMPARE(kd::ui::classifyLaunchArgument(tmp_.filePath("config.json")).kind,
             LaunchTarget::Kind::kExperiment);
    for (const char* name : {"teacher.kdmodel", "net.pt", "NET.PT", "weights.pth"}) {
      const LaunchTarget t = kd::ui::classifyLaunchArgument(tmp_.filePath(name));
      QCOMPARE(t.kind, LaunchTarget::Kind::kModel);
      QCOMPARE(t.path, tmp_.filePath(name));
    }
    // Our model file renamed to .safetensors (docs/model-files.md) is still a model.
    const QString model = tmp_.filePath("student.safetensors");
    writeSafetensors(model, {{"format", "kdstudio-model"}, {"architecture", "resnet9"}});
    QCOMPARE(kd::ui::classifyLaunchArgument(model).kind, LaunchTarget::Kind::kModel);
  }

  void othersAreRefusedWithAReason() {
    // A folder that is no run (the runs folder itself, here).
    LaunchTarget t = kd::ui::classifyLaunchArgument(runs_);
    QCOMPARE(t.kind, LaunchTarget::Kind::kError);
    QVERIFY2(t.error.contains("not a KD Studio run folder") && t.error.contains(runs_),
             qPrintable(t.error));
    // A seed-N folder outside a run.
    QVERIFY(QDir().mkpath(tmp_.filePath("loose/seed-0")));
    QCOMPARE(kd::ui::classifyLaunchArgument(tmp_.filePath("loose/seed-0")).kind,
             LaunchTarget::Kind::kError);
    // A checkpoint moved out of its run folder.
    const QString loose = tmp_.filePath("loose/seed-0/checkpoint.safetensors");
    QVERIFY(QFile::copy(checkpoint_, loose));
    t = kd::ui::classifyLaunchArgument(loose);
    QCOMPARE(t.kind, LaunchTarget::Kind::kError);
    QVERIFY2(t.error.contains("not inside a run folder"), qPrintable(t.error));
    // Somebody else's safetensors file, named like ours.
    QVERIFY(QDir().mkpath(tmp_.filePath("hf")));
    const QString foreign = tmp_.filePath("hf/checkpoint.safetensors");
    writeSafetensors(foreign, {{"format", "pt"}});
    t = kd::ui::classifyLaunchArgument(foreign);
    QCOMPARE(t.kind, LaunchTarget::Kind::kError);
    QVERIFY2(t.error.contains("neither a KD Studio training checkpoint"), qPrintable(t.error));
    QCOMPARE(kd::ui::safetensorsFormat(foreign), QStringLiteral("pt"));
    // Not safetensors at all, and missing.
    writeText(tmp_.filePath("text.safetensors"), "{\"format\": \"kdstudio-checkpoint\"}");
    QCOMPARE(kd::ui::safetensorsFormat(tmp_.filePath("text.safetensors")), QString());
    QCOMPARE(kd::ui::classifyLaunchArgument(tmp_.filePath("text.safetensors")).kind,
             LaunchTarget::Kind::kError);
    t = kd::ui::classifyLaunchArgument(tmp_.filePath("missing/checkpoint.safetensors"));
    QCOMPARE(t.kind, LaunchTarget::Kind::kError);
    QVERIFY2(t.error.contains("does not exist"), qPrintable(t.error));
  }

  void openingACheckpointOpensTheRunInTheWindow() {
    kd::ui::MainWindow w;
    w.show();
    const LaunchTarget t = kd::ui::classifyLaunchArgument(checkpoint_);
    QCOMPARE(kd::ui::openLaunchTarget(w, t), QString());
    // The run's config is the experiment: in the form and the title.
    const kd::ExperimentConfig c = w.trainingPage()->currentConfig();
    QCOMPARE(c.name, std::string("args-test"));
    QCOMPARE(c.epochs, 3);
    // The student is the config's once it has been built (in the background).
    QTRY_COMPARE_WITH_TIMEOUT(w.trainingPage()->currentConfig().student,
                              std::string("resnet9:channels=1,size=28,width=0.125"), kTimeoutMs);
    QVERIFY2(w.windowTitle().startsWith("config.json"), qPrintable(w.windowTitle()));
    // The Experiments page lists the runs folder, shown, with this run selected.
    kd::ui::ExperimentsPage* page = w.experimentsPage();
    QCOMPARE(canonical(page->runsRoot()), canonical(runs_));
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(page));
    QTRY_COMPARE_WITH_TIMEOUT(page->runCount(), 2, kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(canonical(page->currentRunDir()), canonical(runDir_), kTimeoutMs);
  }

  void aSweepFolderOpensOnTheSweepsTab() {
    const std::string text = R"({"format": "kdstudio-sweep", "version": 1, "name": "args-sweep",
      "base": {"format": "kdstudio-experiment", "dataset": "fashion-mnist",
               "student": "resnet9:channels=1,size=28,width=0.125", "method": "student",
               "epochs": 1, "train_per_class": 20, "seeds": 1},
      "axes": {"seed": [0, 1, 2]}})";
    const kd::SweepFolder folder = kd::SweepFolder::create(kd::sweep_from_json(text, "args-sweep.json"), text,
                                                           tmp_.filePath("sweeps").toStdString());
    const QString dir = QString::fromStdString(folder.dir());
    const LaunchTarget t = kd::ui::classifyLaunchArgument(dir + "/");
    QVERIFY2(t.kind == LaunchTarget::Kind::kSweep, qPrintable(t.error));
    QCOMPARE(canonical(t.path), canonical(dir));
    kd::ui::MainWindow w;
    w.show();
    QCOMPARE(kd::ui::openLaunchTarget(w, t), QString());
    QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.experimentsPage()));
    kd::ui::SweepPanel* panel = w.experimentsPage()->sweepPanel();
    QVERIFY(panel->isVisible());  // its tab is the one shown
    QCOMPARE(canonical(panel->sweepDir()), canonical(dir));
    QCOMPARE(panel->pointRowCount(), 3);
    QCOMPARE(panel->pointCell(2, 1), QStringLiteral("seed=2"));
    QCOMPARE(panel->pointCell(2, 2), QStringLiteral("pending"));
  }

  void aRefusedArgumentIsShown() {
    kd::ui::MainWindow w;
    w.show();
    const LaunchTarget t = kd::ui::classifyLaunchArgument(runs_);
    const QString before = w.experimentsPage()->runsRoot();
    QString shown;
    answerNextMessageBox(&shown);
    QCOMPARE(kd::ui::openLaunchTarget(w, t), t.error);
    QCOMPARE(shown, t.error);
    QCOMPARE(w.experimentsPage()->runsRoot(), before);  // nothing changed
  }
};

QTEST_MAIN(TestApplicationArgs)
#include "test_application_args.moc"
