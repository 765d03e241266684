// Reading run folders back (core/experiment/run_store.h): a real two-seed run made by
// ExperimentRunner on 100 Fashion-MNIST images, whose summary, epoch histories and CSV must
// equal what the runner returned and wrote; and hand-written folders for the edge cases a store
// holds: a partial run, one not started, damaged files, a torn last metrics line, folders that
// are not runs, and a root that cannot be read.
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "experiment/run_store.h"
#include "idx_subset.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using kd::RunSummary;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!text.empty() && text.back() == sep) out.push_back("");
  return out;
}

const RunSummary* find_run(const std::vector<RunSummary>& runs, const std::string& folder) {
  for (const auto& r : runs) {
    if (r.folder == folder) return &r;
  }
  return nullptr;
}

/// A hand-written ours experiment with explicit layers (what resolved.json holds).
kd::ExperimentConfig hand_config(const std::string& name, int epochs, int seeds) {
  kd::ExperimentConfig c;
  c.name = name;
  c.teacher = "teacher.kdmodel";
  c.student = "resnet9:channels=1,size=28,width=0.125";
  c.teacher_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {3, 4, 5, 6}, {}};
  c.student_layers = kd::LayerChoice{kd::LayerChoice::Kind::kExplicit, {1, 2, 3, 4}, {}};
  c.lr = 0.0075;
  c.weight_decay = 0.01;
  c.epochs = epochs;
  c.seeds = seeds;
  return c;
}

/// An epochs.jsonl line as the trainer writes it (keys in alphabetical order).
std::string epoch_line(int epoch, double test_acc) {
  return json{{"epoch", epoch},
              {"loss", 1.5 - 0.1 * epoch},
              {"losses", {{"ce", 1.0}, {"feat", 0.5 - 0.1 * epoch}}},
              {"lr", 0.001 * (epoch + 1)},
              {"seconds", 2.5},
              {"test_acc", test_acc},
              {"test_loss", 0.75},
              {"train_acc", 50.0 + epoch}}
      .dump();
}

/// result.json for the given finished seeds' (best, last) accuracies.
std::string result_json(const std::vector<std::pair<double, double>>& seeds, bool complete,
                        int epochs) {
  json list = json::array();
  std::vector<double> best, last;
  for (size_t i = 0; i < seeds.size(); ++i) {
    list.push_back({{"seed", i},
                    {"epochs", epochs},
                    {"best_test_acc", seeds[i].first},
                    {"best_epoch", 0},
                    {"last_test_acc", seeds[i].second},
                    {"seconds", 1.0}});
    best.push_back(seeds[i].first);
    last.push_back(seeds[i].second);
  }
  const auto [bm, bs] = kd::mean_std(best);
  const auto [lm, ls] = kd::mean_std(last);
  return json{{"format", "kdstudio-result"},
              {"name", "x"},
              {"method", "ours"},
              {"dataset", "Fashion-MNIST"},
              {"complete", complete},
              {"seeds", list},
              {"best_test_acc_mean", bm},
              {"best_test_acc_std", bs},
              {"last_test_acc_mean", lm},
              {"last_test_acc_std", ls},
              {"device", "cpu"},
              {"device_description", "CPU (2 threads)"}}
      .dump(2);
}

/// A run folder with config.json and resolved.json of `c`.
fs::path make_run(const fs::path& root, const std::string& folder, const kd::ExperimentConfig& c) {
  const fs::path dir = root / folder;
  write_text(dir / kd::kRunConfigFile, kd::experiment_to_json(c));
  write_text(dir / kd::kRunResolvedFile, kd::experiment_to_json(c));
  return dir;
}

void set_mtime_everywhere(const fs::path& dir, int64_t seconds_ago) {
  const auto t = fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago);
  for (const auto& e : fs::recursive_directory_iterator(dir)) fs::last_write_time(e.path(), t);
  fs::last_write_time(dir, t);
}

}  // namespace

class TestRunStore : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir cache_dir_, data_dir_, real_root_;
  std::string real_run_;
  kd::ExperimentResult real_result_;

 private slots:
  void initTestCase() {
    QVERIFY(cache_dir_.isValid() && data_dir_.isValid() && real_root_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", cache_dir_.path().toUtf8());
    torch::set_num_threads(2);
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string dir = data_dir_.path().toStdString();
    kdtest::write_idx_subset(full.train, 10, dir, "train");
    kdtest::write_idx_subset(full.test, 10, dir, "t10k");
    // KD distils logits: two loss components (ce, kd) and no layer analysis.
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
    auto runner = kd::ExperimentRunner::create(c, "", real_root_.path().toStdString());
    real_result_ = runner->run();
    real_run_ = runner->run_dir();
  }

  void realRunSummary() {
    const std::vector<RunSummary> runs = kd::list_runs(real_root_.path().toStdString());
    QCOMPARE(runs.size(), size_t{1});
    const RunSummary& s = runs[0];
    const kd::ExperimentResult r = kd::read_result(real_run_);
    const json file = json::parse(read_text(fs::path(real_run_) / kd::kRunResultFile));
    QCOMPARE(s.run_dir, real_run_);
    QCOMPARE(s.folder, fs::path(real_run_).filename().string());
    QCOMPARE(s.name, std::string("real-kd"));
    QCOMPARE(s.method, std::string("kd"));
    QCOMPARE(s.teacher, file["teacher"].get<std::string>());
    QCOMPARE(s.student, file["student"].get<std::string>());
    QCOMPARE(s.dataset, file["dataset"].get<std::string>());
    QVERIFY(s.teacher_layers.empty() && s.student_layers.empty());  // kd distils no layers
    QCOMPARE(s.epochs_planned, 2);
    QCOMPARE(s.epochs_done, 2);
    QCOMPARE(s.seed_epochs, (std::vector<int>{2, 2}));
    QCOMPARE(s.seeds_planned, 2);
    QCOMPARE(s.seeds_done, 2);
    QVERIFY(s.complete);
    QCOMPARE(s.status, std::string("complete"));
    QCOMPARE(*s.best_mean, r.best_test_acc_mean);
    QCOMPARE(*s.best_std, r.best_test_acc_std);
    QCOMPARE(*s.last_mean, r.last_test_acc_mean);
    QCOMPARE(*s.last_std, real_result_.last_test_acc_std);
    QCOMPARE(*s.best_mean, real_result_.best_test_acc_mean);
    QCOMPARE(s.device, file["device_description"].get<std::string>());
    QVERIFY(s.config.has_value() && s.result.has_value());
    QCOMPARE(s.result->seeds.size(), size_t{2});
    // The newest file is at least as new as result.json and not in the future.
    const auto result_time =
        std::chrono::file_clock::to_sys(fs::last_write_time(fs::path(real_run_) / "result.json"));
    const int64_t result_unix =
        std::chrono::duration_cast<std::chrono::seconds>(result_time.time_since_epoch()).count();
    QVERIFY(s.modified_unix >= result_unix);
    QVERIFY(s.modified_unix <= std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                       .count() +
                                   1);
  }

  void realRunHistory() {
    const std::vector<std::string> dirs = kd::seed_dirs(real_run_);
    QCOMPARE(dirs.size(), size_t{2});
    for (size_t i = 0; i < dirs.size(); ++i) {
      QCOMPARE(kd::seed_of_dir(dirs[i]), uint64_t(i));
      const std::vector<kd::EpochReport> read = kd::read_epoch_history(dirs[i]);
      const std::vector<kd::EpochReport>& ran = real_result_.seeds[i].history;
      QCOMPARE(read.size(), ran.size());
      for (size_t e = 0; e < read.size(); ++e) {
        QCOMPARE(read[e].epoch, ran[e].epoch);
        QCOMPARE(read[e].epochs, 2);
        QCOMPARE(read[e].loss, ran[e].loss);  // JSON keeps doubles exactly
        QCOMPARE(read[e].losses, ran[e].losses);
        QCOMPARE(read[e].train_acc, ran[e].train_acc);
        QCOMPARE(read[e].test_acc, ran[e].test_acc);
        QCOMPARE(read[e].test_loss, ran[e].test_loss);
        QCOMPARE(read[e].lr, ran[e].lr);
        QCOMPARE(read[e].seconds, ran[e].seconds);
      }
      const kd::SeedResult again = kd::summarize_history(i, read, 0);
      QCOMPARE(again.best_test_acc, kd::read_result(real_run_).seeds[i].best_test_acc);
      QCOMPARE(again.last_test_acc, kd::read_result(real_run_).seeds[i].last_test_acc);
    }
  }

  void realRunCsv() {
    const std::vector<std::string> lines = split(kd::epochs_csv(real_run_), '\n');
    QCOMPARE(lines.size(), size_t{1 + 2 * 2 + 1});  // header, 2 seeds x 2 epochs, final newline
    QCOMPARE(lines.back(), std::string());
    QCOMPARE(lines[0],
             std::string("seed,epoch,train_loss,ce,kd,train_acc,test_acc,test_loss,lr,seconds"));
    for (size_t seed = 0; seed < 2; ++seed) {
      for (size_t e = 0; e < 2; ++e) {
        const std::vector<std::string> cells = split(lines[1 + seed * 2 + e], ',');
        const kd::EpochReport& r = real_result_.seeds[seed].history[e];
        QCOMPARE(cells.size(), size_t{10});
        QCOMPARE(std::stoi(cells[0]), int(seed));
        QCOMPARE(std::stoi(cells[1]), r.epoch + 1);  // 1-based in the CSV
        const std::vector<double> expected = {r.loss,      r.losses[0].second, r.losses[1].second,
                                              r.train_acc, r.test_acc,         r.test_loss,
                                              r.lr,        r.seconds};
        for (size_t k = 0; k < expected.size(); ++k) QCOMPARE(std::stod(cells[2 + k]), expected[k]);
      }
    }
  }

  void partialAndNotStarted() {
    QTemporaryDir root;
    const fs::path partial =
        make_run(root.path().toStdString(), "partial-1", hand_config("partial", 4, 3));
    std::string seed0;
    for (int e = 0; e < 4; ++e) seed0 += epoch_line(e, 60.0 + e) + "\n";
    write_text(partial / "seed-0" / kd::kEpochsFile, seed0);
    write_text(partial / "seed-1" / kd::kEpochsFile, epoch_line(0, 55.0) + "\n");
    write_text(partial / kd::kRunResultFile, result_json({{63.0, 63.0}}, false, 4));
    make_run(root.path().toStdString(), "fresh-2", hand_config("fresh", 4, 1));

    const std::vector<RunSummary> runs = kd::list_runs(root.path().toStdString());
    QCOMPARE(runs.size(), size_t{2});
    const RunSummary* p = find_run(runs, "partial-1");
    QVERIFY(p);
    QCOMPARE(p->status, std::string("partial: 1/3 seeds, epoch 1/4 of seed 1"));
    QCOMPARE(p->seed_epochs, (std::vector<int>{4, 1, 0}));
    QCOMPARE(p->epochs_done, 0);
    QCOMPARE(p->seeds_done, 1);
    QCOMPARE(p->seeds_planned, 3);
    QCOMPARE(p->teacher_layers, (std::vector<int>{3, 4, 5, 6}));
    QCOMPARE(p->student_layers, (std::vector<int>{1, 2, 3, 4}));
    QCOMPARE(*p->best_mean, 63.0);
    QCOMPARE(*p->last_mean, 63.0);
    QCOMPARE(p->dataset, std::string("Fashion-MNIST"));
    QVERIFY(!p->complete);
    const RunSummary* f = find_run(runs, "fresh-2");
    QVERIFY(f);
    QCOMPARE(f->status, std::string("not started"));
    QVERIFY(!f->best_mean && !f->last_mean && !f->result);
    QCOMPARE(f->dataset, std::string("fashion-mnist"));  // the spec until a result names it
  }

  void newestFirst() {
    QTemporaryDir root;
    const std::string r = root.path().toStdString();
    const fs::path old_run = make_run(r, "old", hand_config("old", 1, 1));
    const fs::path new_run = make_run(r, "new", hand_config("new", 1, 1));
    const fs::path mid_run = make_run(r, "mid", hand_config("mid", 1, 1));
    set_mtime_everywhere(old_run, 3000);
    set_mtime_everywhere(mid_run, 2000);
    set_mtime_everywhere(new_run, 1000);
    const std::vector<RunSummary> runs = kd::list_runs(r);
    QCOMPARE(runs.size(), size_t{3});
    QCOMPARE(runs[0].folder, std::string("new"));
    QCOMPARE(runs[1].folder, std::string("mid"));
    QCOMPARE(runs[2].folder, std::string("old"));
    QVERIFY(runs[0].modified_unix > runs[1].modified_unix);
    // A file written later inside a seed folder makes the run the newest.
    write_text(old_run / "seed-0" / "steps.jsonl", "{}\n");
    QCOMPARE(kd::list_runs(r)[0].folder, std::string("old"));
  }

  void damagedRunsAreListed_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("contents");
    QTest::addColumn<QString>("reason");
    QTest::newRow("config not JSON") << "config.json"
                                     << "{\"format\": "
                                     << "damaged: config.json: not valid JSON";
    QTest::newRow("config bad value") << "config.json"
                                      << "{\"epochs\": -3}"
                                      << "damaged: config.json: epochs";
    QTest::newRow("resolved not JSON") << "resolved.json"
                                       << "[1,"
                                       << "damaged: resolved.json: not valid JSON";
    QTest::newRow("result not JSON") << "result.json"
                                     << "{"
                                     << "damaged: result.json is damaged";
    QTest::newRow("result of another kind")
        << "result.json"
        << "{\"format\": \"x\"}"
        << "damaged: result.json is not a KD Studio result file";
    QTest::newRow("epochs middle line")
        << "seed-0/epochs.jsonl"
        << QString::fromStdString(epoch_line(0, 1) + "\n{oops\n" + epoch_line(2, 3) + "\n")
        << "damaged: seed-0/epochs.jsonl line 2 is damaged";
  }

  void damagedRunsAreListed() {
    QFETCH(QString, file);
    QFETCH(QString, contents);
    QFETCH(QString, reason);
    QTemporaryDir root;
    const std::string r = root.path().toStdString();
    make_run(r, "good", hand_config("good", 1, 1));
    const fs::path bad = make_run(r, "bad", hand_config("bad", 3, 1));
    write_text(bad / file.toStdString(), contents.toStdString());
    std::vector<RunSummary> runs;
    QCOMPARE(kdtest::error_of([&] { runs = kd::list_runs(r); }), std::string("<no error>"));
    QCOMPARE(runs.size(), size_t{2});
    const RunSummary* b = find_run(runs, "bad");
    QVERIFY(b && b->damaged());
    QVERIFY2(b->status.rfind(reason.toStdString(), 0) == 0, b->status.c_str());
    QVERIFY(find_run(runs, "good") && find_run(runs, "good")->status == "not started");
    if (file == "config.json") QCOMPARE(b->epochs_planned, 3);  // still read from resolved.json
  }

  void tornLastLineIsIgnored() {
    QTemporaryDir root;
    const fs::path run = make_run(root.path().toStdString(), "torn", hand_config("torn", 5, 1));
    const std::string full = epoch_line(0, 40.5) + "\n" + epoch_line(1, 45.25) + "\n";
    write_text(run / "seed-0" / kd::kEpochsFile, full + epoch_line(2, 50).substr(0, 30));
    const std::vector<kd::EpochReport> h = kd::read_epoch_history((run / "seed-0").string());
    QCOMPARE(h.size(), size_t{2});
    QCOMPARE(h[0].test_acc, 40.5);
    QCOMPARE(h[1].test_acc, 45.25);
    QCOMPARE(h[1].epoch, 1);
    QCOMPARE(h[1].epochs, 5);  // from resolved.json
    QCOMPARE(h[1].losses, (kd::LossValues{{"ce", 1.0}, {"feat", 0.5 - 0.1}}));
    QVERIFY(h[0].best && h[1].best);
    const RunSummary s = kd::summarize_run(run.string());
    QCOMPARE(s.status, std::string("partial: 0/1 seeds, epoch 2/5 of seed 0"));
    const std::vector<std::string> lines = split(kd::epochs_csv(run.string()), '\n');
    QCOMPARE(lines.size(), size_t{4});  // header, two rows, final newline
    QCOMPARE(lines[0],
             std::string("seed,epoch,train_loss,ce,feat,train_acc,test_acc,test_loss,lr,seconds"));
    QCOMPARE(lines[2], std::string("0,2,1.4,1,0.4,51,45.25,0.75,0.002,2.5"));
  }

  void csvUnionOfComponents() {
    QTemporaryDir root;
    const fs::path run = make_run(root.path().toStdString(), "mixed", hand_config("mixed", 1, 2));
    write_text(run / "seed-0" / kd::kEpochsFile, epoch_line(0, 10) + "\n");
    json other = json::parse(epoch_line(0, 20));
    other["losses"] = {{"ce", 0.1}, {"kd", 0.2}};
    write_text(run / "seed-1" / kd::kEpochsFile, other.dump() + "\n");
    const std::vector<std::string> lines = split(kd::epochs_csv(run.string()), '\n');
    QCOMPARE(
        lines[0],
        std::string("seed,epoch,train_loss,ce,feat,kd,train_acc,test_acc,test_loss,lr,seconds"));
    QCOMPARE(lines[1], std::string("0,1,1.5,1,0.5,,50,10,0.75,0.001,2.5"));
    QCOMPARE(lines[2], std::string("1,1,1.5,0.1,,0.2,50,20,0.75,0.001,2.5"));
  }

  void seedDirsAndOtherFolders() {
    QTemporaryDir root;
    const std::string r = root.path().toStdString();
    const fs::path run = make_run(r, "seeds", hand_config("seeds", 1, 1));
    for (const char* d : {"seed-10", "seed-2", "seed-x", "seedling", "seed-"})
      fs::create_directories(run / d);
    write_text(run / "seed-3", "a file, not a folder");
    const std::vector<std::string> dirs = kd::seed_dirs(run.string());
    QCOMPARE(dirs,
             (std::vector<std::string>{(run / "seed-2").string(), (run / "seed-10").string()}));
    QVERIFY(kdtest::error_of([&] {
              kd::seed_of_dir((run / "seed-x").string());
            }).find("not a seed folder") != std::string::npos);
    // Folders without config.json and plain files at the root are not runs.
    fs::create_directories(fs::path(r) / "notes");
    write_text(fs::path(r) / "notes" / "readme.txt", "hello");
    write_text(fs::path(r) / "teacher-analysis.json", "{}");
    write_text(fs::path(r) / "empty-run" / "resolved.json", "{}");
    const std::vector<RunSummary> runs = kd::list_runs(r);
    QCOMPARE(runs.size(), size_t{1});
    QCOMPARE(runs[0].folder, std::string("seeds"));
  }

  void unreadableRoot() {
    QTemporaryDir root;
    const std::string missing = root.path().toStdString() + "/nowhere";
    QVERIFY(kdtest::error_of([&] { kd::list_runs(missing); }).find("does not exist") !=
            std::string::npos);
    write_text(root.path().toStdString() + "/file", "x");
    QVERIFY(kdtest::error_of([&] {
              kd::list_runs(root.path().toStdString() + "/file");
            }).find("not a folder") != std::string::npos);
    QVERIFY(kd::list_runs(root.path().toStdString()).empty());
    QVERIFY(kdtest::error_of([&] { kd::epochs_csv(missing); }).find("does not exist") !=
            std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "test_run_store.moc"
