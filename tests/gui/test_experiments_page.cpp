// The Experiments page, offscreen, over a runs folder holding a real two-seed run made by
// ExperimentRunner (100 Fashion-MNIST images, two epochs) and hand-written runs in the same
// format: the table's values equal result.json's, selected runs overlay curves equal to the mean
// of their epochs.jsonl values, CSV and plot export, a damaged run among good ones, runs that
// appear while the page is open, the selection kept across refreshes, and "Open config".
// Set KD_SCREENSHOT_DIR to also save a PNG of the page.
#include <qcustomplot.h>
#include <torch/torch.h>

#include <QComboBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QtTest/QtTest>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "experiment/run_store.h"
#include "pages/experiments_page.h"
#include "models/model_loader.h"
#include "plots/plot_style.h"
#include "table_models/run_table_model.h"
#include "idx_subset.h"
#include "test_util.h"

using kd::ui::ExperimentsPage;
using kd::ui::RunOverlayPlot;
using kd::ui::RunTableModel;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kTimeoutMs = 60000;  // generous: CI machines are slow

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string read_text(const QString& path) {
  std::ifstream f(path.toStdString(), std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// A finished one-seed "ours" run written by hand in the trainer's format, with test
/// accuracies `acc` per epoch.
void write_hand_run(const fs::path& dir, const std::string& name, const std::vector<double>& acc) {
  kd::ExperimentConfig c;
  c.name = name;
  c.teacher = "teacher.kdmodel";
  c.student = "resnet9:channels=1,size=28,width=0.125";
  c.teacher_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {3, 4, 5, 6}, {}};
  c.student_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {1, 2, 3, 4}, {}};
  c.lr = 0.0075;
  c.weight_decay = 0.01;
  c.epochs = static_cast<int>(acc.size());
  c.seeds = 1;
  write_text(dir / kd::kRunConfigFile, kd::experiment_to_json(c));
  write_text(dir / kd::kRunResolvedFile, kd::experiment_to_json(c));
  std::string lines;
  std::vector<kd::EpochReport> history;
  for (size_t e = 0; e < acc.size(); ++e) {
    kd::EpochReport r;
    r.epoch = static_cast<int>(e);
    r.loss = 2.0 / (1.0 + static_cast<double>(e));
    r.losses = {{"ce", 0.25 * r.loss}, {"feat", 0.75 * r.loss}};
    r.train_acc = acc[e] + 1.5;
    r.test_acc = acc[e];
    r.test_loss = 1.0 / (2.0 + static_cast<double>(e));
    r.lr = 0.001 * static_cast<double>(e + 1);
    r.seconds = 3.0;
    history.push_back(r);
    lines += json{{"epoch", r.epoch},
                  {"loss", r.loss},
                  {"losses", {{"ce", r.losses[0].second}, {"feat", r.losses[1].second}}},
                  {"lr", r.lr},
                  {"seconds", r.seconds},
                  {"test_acc", r.test_acc},
                  {"test_loss", r.test_loss},
                  {"train_acc", r.train_acc}}
                 .dump() +
             "\n";
  }
  write_text(dir / "seed-0" / kd::kEpochsFile, lines);
  const kd::SeedResult s = kd::summarize_history(0, history, 9.0);
  const json seeds = json::array({json{{"seed", 0},
                                       {"epochs", s.epochs_done},
                                       {"best_test_acc", s.best_test_acc},
                                       {"best_epoch", s.best_epoch},
                                       {"last_test_acc", s.last_test_acc},
                                       {"seconds", s.seconds}}});
  write_text(dir / kd::kRunResultFile, json{{"format", "kdstudio-result"},
                                            {"name", name},
                                            {"method", "ours"},
                                            {"dataset", "Fashion-MNIST"},
                                            {"complete", true},
                                            {"seeds", seeds},
                                            {"best_test_acc_mean", s.best_test_acc},
                                            {"best_test_acc_std", 0.0},
                                            {"last_test_acc_mean", s.last_test_acc},
                                            {"last_test_acc_std", 0.0},
                                            {"device", "cpu"},
                                            {"device_description", "CPU"}}
                                           .dump(2));
}

/// Per-epoch mean over the seeds of a run of one epochs.jsonl field.
QVector<double> mean_curve(const std::string& run_dir, double kd::EpochReport::*field) {
  QVector<double> sum, count;
  for (const auto& dir : kd::seed_dirs(run_dir)) {
    const auto history = kd::read_epoch_history(dir);
    for (size_t e = 0; e < history.size(); ++e) {
      if (sum.size() <= int(e)) {
        sum.resize(int(e) + 1);
        count.resize(int(e) + 1);
      }
      sum[int(e)] += history[e].*field;
      count[int(e)] += 1;
    }
  }
  for (int e = 0; e < sum.size(); ++e) sum[e] /= count[e];
  return sum;
}

}  // namespace

class TestExperimentsPage : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir cache_dir_, data_dir_, template_;
  fs::path real_run_;  ///< the engine's run, copied into each test's root

  static void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
    if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
  }

  /// A runs root with the real run and a hand-written one.
  fs::path makeRoot(const QTemporaryDir& dir) {
    const fs::path root = dir.path().toStdString();
    fs::copy(real_run_, root / real_run_.filename(), fs::copy_options::recursive);
    write_hand_run(root / "hand-1a2b3c4d", "hand", {61.5, 70.25, 68.0});
    // A minute old, so that runs written by a test are the newest.
    const auto t = fs::file_time_type::clock::now() - std::chrono::seconds(60);
    for (const auto& e : fs::recursive_directory_iterator(root)) fs::last_write_time(e.path(), t);
    return root;
  }

  /// Table row (as shown) of a run folder, or -1.
  static int rowOf(const ExperimentsPage& page, const fs::path& run) {
    for (int row = 0; row < page.runCount(); ++row) {
      if (fs::path(page.runDirAt(row).toStdString()).filename() == run.filename()) return row;
    }
    return -1;
  }

  static QString cell(const ExperimentsPage& page, int row, int column,
                      int role = Qt::DisplayRole) {
    const QAbstractItemModel* m = page.findChild<QTableView*>("runTable")->model();
    return m->index(row, column).data(role).toString();
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_experiments_page");
    QVERIFY(cache_dir_.isValid() && data_dir_.isValid() && template_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", cache_dir_.path().toUtf8());
    torch::set_num_threads(2);
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string dir = data_dir_.path().toStdString();
    kdtest::write_idx_subset(full.train, 10, dir, "train");
    kdtest::write_idx_subset(full.test, 10, dir, "t10k");
    kd::ExperimentConfig c;
    c.name = "real-kd";
    c.dataset = "fashion-mnist:" + dir;
    c.student = "resnet9:channels=1,size=28,width=0.125";
    c.teacher = "resnet18:channels=1,size=28,width=0.125";
    c.method = kd::Method::kKD;
    c.epochs = 2;
    c.batch_size = 25;
    c.seeds = 2;
    c.device = "cpu";
    auto runner = kd::ExperimentRunner::create(c, "", template_.path().toStdString());
    runner->run();
    real_run_ = runner->run_dir();
  }

  void tableShowsResults() {
    QTemporaryDir dir;
    const fs::path root = makeRoot(dir);
    ExperimentsPage page;
    page.setRunsRoot(dir.path());
    QCOMPARE(page.runsRoot(), dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    for (const fs::path& run : {real_run_, root / "hand-1a2b3c4d"}) {
      const int row = rowOf(page, run);
      QVERIFY(row >= 0);
      const kd::ExperimentResult r = kd::read_result((root / run.filename()).string());
      const int n = int(r.seeds.size());
      QCOMPARE(cell(page, row, RunTableModel::kBest, Qt::UserRole).toDouble(),
               r.best_test_acc_mean);
      QCOMPARE(cell(page, row, RunTableModel::kLast, Qt::UserRole).toDouble(),
               r.last_test_acc_mean);
      QString best = QString::number(r.best_test_acc_mean, 'f', 2);
      if (n > 1) best += QStringLiteral(" \u00b1 ") + QString::number(r.best_test_acc_std, 'f', 2);
      QCOMPARE(cell(page, row, RunTableModel::kBest), best);
      QCOMPARE(cell(page, row, RunTableModel::kStatus), QStringLiteral("complete"));
      QCOMPARE(cell(page, row, RunTableModel::kSeeds), QString::number(n));
    }
    const int hand = rowOf(page, root / "hand-1a2b3c4d");
    QCOMPARE(cell(page, hand, RunTableModel::kName), QStringLiteral("hand"));
    QCOMPARE(cell(page, hand, RunTableModel::kMethod), QStringLiteral("ours"));
    QCOMPARE(cell(page, hand, RunTableModel::kTeacherLayers), QStringLiteral("3, 4, 5, 6"));
    QCOMPARE(cell(page, hand, RunTableModel::kStudentLayers), QStringLiteral("1, 2, 3, 4"));
    QCOMPARE(cell(page, hand, RunTableModel::kBest), QStringLiteral("70.25"));
    QCOMPARE(cell(page, hand, RunTableModel::kLast), QStringLiteral("68.00"));
    QCOMPARE(cell(page, hand, RunTableModel::kEpochs), QStringLiteral("3"));
    QCOMPARE(cell(page, rowOf(page, real_run_), RunTableModel::kTeacherLayers),
             QStringLiteral("\u2014"));
    // The details of the current run name its settings and result.
    page.selectRows({hand});
    QCOMPARE(page.currentRunDir(), QString::fromStdString((root / "hand-1a2b3c4d").string()));
    QVERIFY2(page.detailsText().contains("lr 0.0075"), qPrintable(page.detailsText()));
    QVERIFY(page.detailsText().contains("teacher.kdmodel \u2192 resnet9"));
    QVERIFY(page.detailsText().contains("seed 0: best 70.25 % (epoch 2), last 68.00 %"));
  }

  void overlayCurvesEqualMetrics() {
    QTemporaryDir dir;
    const fs::path root = makeRoot(dir);
    ExperimentsPage page;
    page.resize(1280, 800);
    page.show();
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    QCOMPARE(page.overlayCurveCount(), 0);
    page.selectRows({0, 1});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 2, kTimeoutMs);
    auto* plot = static_cast<RunOverlayPlot*>(page.overlayPlot());
    QCOMPARE(plot->graphCount(), 2 + 2);  // two means + the real run's two seeds
    const std::pair<RunOverlayPlot::Metric, double kd::EpochReport::*> metrics[] = {
        {RunOverlayPlot::kTestAccuracy, &kd::EpochReport::test_acc},
        {RunOverlayPlot::kTrainLoss, &kd::EpochReport::loss},
        {RunOverlayPlot::kTestLoss, &kd::EpochReport::test_loss},
        {RunOverlayPlot::kTrainAccuracy, &kd::EpochReport::train_acc}};
    for (const auto& [metric, field] : metrics) {
      page.setOverlayMetric(metric);
      QCOMPARE(plot->metric(), metric);
      QCOMPARE(page.overlayCurveCount(), 2);
      for (int curve = 0; curve < 2; ++curve) {
        const std::string run = plot->curveRunDir(curve).toStdString();
        QCOMPARE(page.overlayCurveValues(curve), mean_curve(run, field));
        QCOMPARE(plot->curveEpochs(curve).size(), page.overlayCurveValues(curve).size());
        QCOMPARE(plot->curveEpochs(curve).first(), 1.0);
      }
    }
    page.setOverlayMetric(RunOverlayPlot::kTestAccuracy);
    page.selectRows({rowOf(page, real_run_)});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 1, kTimeoutMs);
    QCOMPARE(page.overlayCurveValues(0).size(), 2);
    page.selectRows({0, 1});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 2, kTimeoutMs);
    QCOMPARE(plot->legend->itemCount(), 2);
    plot->replot();  // the page replots queued; a grab right away would show the old frame
    saveShot(&page, "experiments");
    page.selectRows({});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 0, kTimeoutMs);
  }

  void exportCsvEqualsCore() {
    QTemporaryDir dir, out;
    makeRoot(dir);
    ExperimentsPage page;
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    for (int row = 0; row < 2; ++row) {
      const QString path = out.filePath(QStringLiteral("run%1.csv").arg(row));
      QCOMPARE(page.exportCsv(row, path), QString());
      QCOMPARE(read_text(path), kd::epochs_csv(page.runDirAt(row).toStdString()));
    }
    const QString bad = out.filePath(QStringLiteral("missing/folder/run.csv"));
    QVERIFY(page.exportCsv(0, bad).contains(bad));
    QVERIFY(!page.exportCsv(7, out.filePath("x.csv")).isEmpty());
  }

  void exportPlot_data() {
    QTest::addColumn<QString>("suffix");
    QTest::newRow("png") << "png";
    QTest::newRow("pdf") << "pdf";
    QTest::newRow("svg") << "svg";
  }

  void exportPlot() {
    QFETCH(QString, suffix);
    QTemporaryDir dir, out;
    makeRoot(dir);
    ExperimentsPage page;
    page.resize(1280, 800);
    page.show();
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    page.selectRows({0, 1});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 2, kTimeoutMs);
    const QString path = out.filePath("plot." + suffix);
    QCOMPARE(kd::ui::savePlot(page.overlayPlot(), path), QString());
    QVERIFY(QFileInfo(path).size() > 1000);
    // Written under a temporary name, then renamed: only the file asked for is there.
    QCOMPARE(QDir(out.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"plot." + suffix});
    // An unwritable place is reported, and nothing is left behind.
    const QString error = kd::ui::savePlot(page.overlayPlot(), out.filePath("missing/plot." + suffix));
    QVERIFY2(error.contains("could not write"), qPrintable(error));
    QCOMPARE(QDir(out.path()).entryList(QDir::Files | QDir::Hidden).size(), 1);
  }

  void damagedRunDoesNotBreakOthers() {
    QTemporaryDir dir;
    const fs::path root = makeRoot(dir);
    write_hand_run(root / "broken-00000000", "broken", {50, 60});
    write_text(root / "broken-00000000" / "config.json", "{\"format\": ");
    write_hand_run(root / "torn-11111111", "torn", {40, 45});
    write_text(root / "torn-11111111" / "result.json", "{\"complete\": tr");
    ExperimentsPage page;
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 4, kTimeoutMs);
    const int broken = rowOf(page, root / "broken-00000000");
    const int torn = rowOf(page, root / "torn-11111111");
    QVERIFY(cell(page, broken, RunTableModel::kStatus).startsWith("damaged: config.json"));
    QVERIFY(cell(page, torn, RunTableModel::kStatus).startsWith("damaged: result.json"));
    QCOMPARE(cell(page, broken, RunTableModel::kBest),
             QStringLiteral("60.00"));  // its result still reads
    QCOMPARE(cell(page, torn, RunTableModel::kBest), QString());
    QCOMPARE(cell(page, rowOf(page, root / "hand-1a2b3c4d"), RunTableModel::kStatus),
             QStringLiteral("complete"));
    page.selectRows({broken, torn, rowOf(page, real_run_)});
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 3, kTimeoutMs);  // their epochs still read
    QVERIFY(page.detailsText().contains("complete"));
    page.selectRows({broken});
    QVERIFY(page.detailsText().contains("damaged"));
    QVERIFY(page.lastError().isEmpty());
  }

  void newRunsAppearAndSelectionStays() {
    QTemporaryDir dir;
    const fs::path root = makeRoot(dir);
    ExperimentsPage page;
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    const QString real = QString::fromStdString((root / real_run_.filename()).string());
    page.selectRows({rowOf(page, real_run_)});
    QCOMPARE(page.currentRunDir(), real);
    QTRY_COMPARE_WITH_TIMEOUT(page.overlayCurveCount(), 1, kTimeoutMs);
    // A new run folder is noticed by the file-system watcher (and is newest: it comes first).
    write_hand_run(root / "later-22222222", "later", {10, 20, 30, 40});
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 3, kTimeoutMs);
    QCOMPARE(page.runDirAt(0), QString::fromStdString((root / "later-22222222").string()));
    QCOMPARE(page.currentRunDir(), real);
    QCOMPARE(page.overlayCurveCount(), 1);
    QCOMPARE(static_cast<RunOverlayPlot*>(page.overlayPlot())->curveRunDir(0), real);
    // An explicit refresh finds a run the same way.
    write_hand_run(root / "again-33333333", "again", {5});
    page.refresh();
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 4, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!page.isScanning(), kTimeoutMs);
    QCOMPARE(page.currentRunDir(), real);
  }

  void openConfigRequests() {
    QTemporaryDir dir;
    const fs::path root = makeRoot(dir);
    ExperimentsPage page;
    page.resize(1280, 800);
    page.show();
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    QSignalSpy spy(&page, &ExperimentsPage::openConfigRequested);
    auto* table = page.findChild<QTableView*>("runTable");
    const QRect rect = table->visualRect(table->model()->index(1, RunTableModel::kMethod));
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, rect.center());
    QTest::mouseDClick(table->viewport(), Qt::LeftButton, {}, rect.center());
    QCOMPARE(spy.count(), 1);
    const QString expected = QDir(page.runDirAt(1)).filePath("config.json");
    QCOMPARE(spy.takeFirst().at(0).toString(), expected);
    QVERIFY(QFileInfo::exists(expected));
    page.selectRows({0});
    QPushButton* open = nullptr;
    for (auto* b : page.findChildren<QPushButton*>()) {
      if (b->text().remove('&') == "Open config") open = b;
    }
    QVERIFY(open && open->isEnabled());
    open->click();
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.takeFirst().at(0).toString(), QDir(page.runDirAt(0)).filePath("config.json"));
  }

  // The student is written on a worker (the button waits), equals the run's first-seed student
  // tensor for tensor, and a failed export says why and leaves the page usable.
  void exportStudentRunsInTheBackground() {
    QTemporaryDir out;
    ExperimentsPage page;
    QSignalSpy done(&page, &ExperimentsPage::studentExported);
    const QString run = QString::fromStdString(real_run_.string());
    const QString path = out.filePath("student.kdmodel");
    QVERIFY(page.exportStudent(run, path));
    // Written on a worker: its result can only arrive through the event loop, so nothing has
    // arrived when exportStudent returns (a synchronous export would have signalled already).
    QCOMPARE(done.count(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    QCOMPARE(done.at(0).at(1).toString(), QString());
    QVERIFY(page.lastError().isEmpty());
    const kd::LoadedModel exported = kd::load_model(path.toStdString());
    const kd::LoadedModel seed0 = kd::load_model((real_run_ / "seed-0" / "student.kdmodel").string());
    QCOMPARE(exported.model->architecture(), seed0.model->architecture());
    const auto a = exported.model->named_state(), b = seed0.model->named_state();
    QCOMPARE(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      QCOMPARE(a[i].first, b[i].first);
      QVERIFY2(torch::equal(a[i].second, b[i].second), a[i].first.c_str());
    }
    // An unwritable destination: the reason, once, on the page; nothing written.
    const QString bad = out.filePath("no/such/folder/student.kdmodel");
    QVERIFY(page.exportStudent(run, bad));
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 2, kTimeoutMs);
    QVERIFY(!done.at(1).at(1).toString().isEmpty());
    QVERIFY2(page.lastError().contains("Could not export the student"), qPrintable(page.lastError()));
    QVERIFY(!QFileInfo::exists(bad));
    QVERIFY(page.exportStudent(run, path));  // usable again
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 3, kTimeoutMs);
    QVERIFY(page.lastError().isEmpty());
  }

  void unreadableRootIsExplained() {
    QTemporaryDir dir;
    makeRoot(dir);
    ExperimentsPage page;
    page.setRunsRoot(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 2, kTimeoutMs);
    const QString missing = dir.filePath("nowhere");
    page.setRunsRoot(missing);
    QTRY_VERIFY_WITH_TIMEOUT(page.lastError().contains("does not exist"), kTimeoutMs);
    QVERIFY(page.lastError().contains(missing));
    QCOMPARE(page.runCount(), 0);
    QVERIFY(page.detailsText().contains("No runs"));
    // The folder appearing later is noticed through its parent, and the error goes.
    write_hand_run(fs::path(missing.toStdString()) / "first-44444444", "first", {33});
    page.refresh();
    QTRY_COMPARE_WITH_TIMEOUT(page.runCount(), 1, kTimeoutMs);
    QVERIFY(page.lastError().isEmpty());
  }
};

QTEST_MAIN(TestExperimentsPage)
#include "test_experiments_page.moc"
