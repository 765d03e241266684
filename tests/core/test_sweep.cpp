// Sweeps (core/sweep): expanding a sweep file into its grid (hand-counted points, labels and
// settings), every bad input named, the sweep folder (created whole, reopened, never mixed with
// another sweep), point status read from the folders, pooled results, Slurm's array spec and job
// script, and one real point trained by run_sweep_point.
#include <unistd.h>
#include <sys/wait.h>

#include <QtTest/QtTest>
#include <cmath>
#include <set>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/error.h"
#include "sweep/layer_study.h"
#include "sweep/slurm_submit.h"
#include "sweep/sweep_folder.h"
#include "sweep/sweep_spec.h"
#include "sweep/sweep_summary.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using kdtest::error_of;

const char* const kFashionDir = "/usr/share/datasets/fashion-mnist";

/// A base experiment that trains in a second or two: the student alone on 200 images.
json tiny_base() {
  return {{"format", "kdstudio-experiment"}, {"version", 1},
          {"dataset", "fashion-mnist"}, {"student", "resnet9:channels=1,size=28,width=0.125"},
          {"method", "student"}, {"train_per_class", 20}, {"test_per_class", 10},
          {"epochs", 1}, {"seeds", 1}, {"batch_size", 50}, {"device", "cpu"}};
}

json sweep_with(const json& axes, const json& zip = json()) {
  json s = {{"format", "kdstudio-sweep"}, {"version", 1}, {"name", "grid"}, {"base", tiny_base()}};
  if (!axes.is_null()) s["axes"] = axes;
  if (!zip.is_null()) s["zip"] = zip;
  return s;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Every file under `dir`, relative, sorted: to check that a refused operation wrote nothing.
std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(fs::relative(it->path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

kd::RunSummary finished_run(std::vector<double> best, std::vector<double> last) {
  kd::RunSummary run;
  kd::ExperimentResult result;
  for (size_t i = 0; i < best.size(); ++i) {
    kd::SeedResult seed;
    seed.seed = i;
    seed.best_test_acc = best[i];
    seed.last_test_acc = last[i];
    result.seeds.push_back(seed);
  }
  result.complete = true;
  run.result = result;
  run.complete = true;
  return run;
}

}  // namespace

class TestSweep : public QObject {
  Q_OBJECT

 private slots:
  void axesExpandToTheirProductInFileOrder() {
    const json s = sweep_with({{"method", {"student", "kd"}}, {"seed", {0, 1, 2}}});
    json with_teacher = s;
    with_teacher["base"]["teacher"] = "resnet9:channels=1,size=28,width=0.125";
    const kd::Sweep sweep = kd::sweep_from_json(with_teacher.dump(), "grid.json");
    QCOMPARE(sweep.name, std::string("grid"));
    QCOMPARE(sweep.points.size(), size_t(6));  // 2 x 3
    QCOMPARE(sweep.axis_keys, (std::vector<std::string>{"method", "seed"}));
    for (int i = 0; i < 6; ++i) {
      const kd::SweepPoint& p = sweep.points[static_cast<size_t>(i)];
      QCOMPARE(p.index, i);
      // The first axis varies slowest, as itertools.product.
      const std::string method = i < 3 ? "student" : "kd";
      QCOMPARE(p.config.method, i < 3 ? kd::Method::kStudent : kd::Method::kKD);
      QCOMPARE(p.config.seed, uint64_t(i % 3));
      QCOMPARE(p.label, "method=" + method + " seed=" + std::to_string(i % 3));
      QCOMPARE(p.group, "method=" + method);
      // Everything else comes from the base.
      QCOMPARE(p.config.train_per_class, int64_t(20));
      QCOMPARE(p.config.batch_size, int64_t(50));
      QCOMPARE(json::parse(p.config_json)["seed"].get<int>(), i % 3);
    }
  }

  void zipGroupsVaryTheirKeysTogether() {
    const json s = sweep_with({{"lr", {0.001, 0.01}}},
                              json::array({{{"train_per_class", {10, 30, 50}},
                                            {"batch_size", {10, 30, 50}}}}));
    const kd::Sweep sweep = kd::sweep_from_json(s.dump(), "zip.json");
    QCOMPARE(sweep.points.size(), size_t(6));  // 2 lr x 3 zipped pairs
    const int64_t sizes[] = {10, 30, 50};
    for (size_t i = 0; i < 6; ++i) {
      const kd::ExperimentConfig& c = sweep.points[i].config;
      QCOMPARE(*c.lr, i < 3 ? 0.001 : 0.01);
      QCOMPARE(c.train_per_class, sizes[i % 3]);
      QCOMPARE(c.batch_size, sizes[i % 3]);  // the same position of both lists
    }
    QCOMPARE(sweep.points[4].label, std::string("lr=0.01 train_per_class=30 batch_size=30"));
    QCOMPARE(sweep.points[4].settings.size(), size_t(3));
  }

  void listValuedAxesAndTheirLabels() {
    json s = sweep_with({{"teacher_layers", json::array({"Q", "standard", json::array({1, 3, 5, 7})})}});
    s["base"]["teacher"] = "resnet9:channels=1,size=28,width=0.125";
    s["base"]["method"] = "ours";
    const kd::Sweep sweep = kd::sweep_from_json(s.dump(), "layers.json");
    QCOMPARE(sweep.points.size(), size_t(3));
    QCOMPARE(sweep.points[0].config.teacher_layers->kind, kd::LayerChoice::Kind::kCriterion);
    QCOMPARE(sweep.points[1].config.teacher_layers->kind, kd::LayerChoice::Kind::kStandard);
    QCOMPARE(sweep.points[2].config.teacher_layers->indices, (std::vector<int>{1, 3, 5, 7}));
    QCOMPARE(sweep.points[2].label, std::string("teacher_layers=[1,3,5,7]"));
  }

  void baseMayBeAnExperimentFileBesideTheSweep() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_text(dir / "exp" / "base.json", tiny_base().dump(2));
    json s = sweep_with({{"seed", {4, 5}}});
    s["base"] = "exp/base.json";
    s.erase("name");
    write_text(dir / "my-sweep.json", s.dump(2));
    const kd::Sweep sweep = kd::load_sweep_file((dir / "my-sweep.json").string());
    QCOMPARE(sweep.name, std::string("my-sweep"));  // the file's stem without a "name"
    QCOMPARE(sweep.points.size(), size_t(2));
    QCOMPARE(sweep.points[1].config.seed, uint64_t(5));
    QCOMPARE(sweep.points[1].config.train_per_class, int64_t(20));
  }

  void theExampleSweepsExpand() {
    // experiments/sweeps/, as documented in docs/sweeps.md.
    const std::string dir = std::string(KD_FIXTURES_DIR) + "/../../experiments/sweeps/";
    const kd::Sweep methods = kd::load_sweep_file(dir + "fashion-mnist-methods.json");
    QCOMPARE(methods.points.size(), size_t(12));  // 4 methods x 3 seeds
    QCOMPARE(methods.points[11].label, std::string("method=student seed=2"));
    const kd::Sweep layers = kd::load_sweep_file(dir + "fashion-mnist-layers.json");
    QCOMPARE(layers.points.size(), size_t(9));  // 3 seeds x 3 zipped layer choices
    QCOMPARE(layers.points[2].config.student_layers->indices, (std::vector<int>{1, 2, 3, 4}));
    QCOMPARE(layers.points[2].group, std::string("teacher_layers=[1,3,5,7] student_layers=[1,2,3,4]"));
  }

  void badSweepFilesAreNamed_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    const auto row = [](const char* name, const json& s, const char* expected) {
      QTest::newRow(name) << QString::fromStdString(s.dump()) << QString(expected);
    };
    row("unknown axis key", sweep_with({{"methd", {"kd"}}}),
        "bad.json: axes.methd: unknown key 'methd' (did you mean 'method'?)");
    row("empty axis", sweep_with({{"seed", json::array()}}),
        "bad.json: axes.seed: expected a non-empty list of values, got []");
    row("axis not a list", sweep_with({{"seed", 3}}),
        "bad.json: axes.seed: expected a non-empty list of values, got 3");
    row("zip lengths", sweep_with(json(), json::array({{{"lr", {0.1, 0.2}}, {"seed", {1}}}})),
        "bad.json: zip[0]: the lists vary together and must be equally long: 'lr' has 2 values, 'seed' has 1");
    row("key twice", sweep_with({{"seed", {1}}}, json::array({{{"seed", {2}}}})),
        "bad.json: zip[0].seed: 'seed' is varied twice (by two axes or groups)");
    row("format varies", sweep_with({{"format", {"x"}}}),
        "bad.json: axes.format: 'format' cannot vary (it describes the file)");
    row("nothing varies", sweep_with(json()), "bad.json: nothing varies: give \"axes\" (and/or \"zip\")");
    json unknown = sweep_with({{"seed", {1}}});
    unknown["epochs"] = 3;
    row("setting outside base", unknown,
        "bad.json: unknown key 'epochs' (a sweep file has format, version, name, base, axes and "
        "zip; experiment settings go in \"base\")");
    json experiment = tiny_base();
    row("an experiment file", experiment,
        "bad.json: format: expected \"kdstudio-sweep\", got \"kdstudio-experiment\" (an "
        "experiment file: run it with 'kdstudio-cli train --config')");
    json newer = sweep_with({{"seed", {1}}});
    newer["version"] = 2;
    row("newer version", newer,
        "bad.json: written by a newer KD Studio (sweep version 2; this one reads up to version 1)");
    row("invalid point", sweep_with({{"epochs", {2, 0}}}),
        "bad.json: point 1 (epochs=0): epochs: expected a positive integer, got 0");
    json overlap = sweep_with({{"method", {"student"}}, {"seed", {0, 1}}});
    overlap["base"]["seeds"] = 3;
    row("overlapping seeds", overlap,
        "bad.json: point 0 (method=student seed=0) trains seeds 0-2 and point 1 (method=student "
        "seed=1) seeds 1-3: their results would pool the same seeds twice; vary \"seed\" with "
        "\"seeds\": 1 in the base (each point one seed), or use seeds that are further apart");
    json no_base = sweep_with({{"seed", {1}}});
    no_base.erase("base");
    row("no base", no_base, "bad.json: base: missing (the experiment the axes vary)");
  }
  void badSweepFilesAreNamed() {
    QFETCH(QString, text);
    QFETCH(QString, expected);
    const std::string message = error_of([&] { kd::sweep_from_json(text.toStdString(), "bad.json"); });
    QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
  }

  void aGridOfMoreThanTenThousandPointsIsRefused() {
    json values = json::array();
    for (int i = 0; i < 25; ++i) values.push_back(i);
    const json s = sweep_with({{"seed", values}, {"analysis_seed", values}, {"epochs", values}});
    const std::string message = error_of([&] { kd::sweep_from_json(s.dump(), "big.json"); });
    QCOMPARE(message, std::string("big.json: the sweep expands to 15625 points (seed 25 x "
                                  "analysis_seed 25 x epochs 25); at most 10000 are allowed: "
                                  "split it into several sweeps or shorten an axis"));
  }

  void theFolderIsCreatedWholeAndReopened() {
    QTemporaryDir tmp;
    const std::string out = tmp.path().toStdString() + "/sweeps";
    const json s = sweep_with({{"seed", {0, 1, 2}}});
    const kd::Sweep sweep = kd::sweep_from_json(s.dump(), "grid.json");
    const kd::SweepFolder folder = kd::SweepFolder::create(sweep, s.dump(2), out);
    QCOMPARE(folder.dir(), out + "/grid");
    QCOMPARE(folder.size(), 3);
    QCOMPARE(tree(folder.dir()), (std::vector<std::string>{
                                     "point-0000", "point-0000/experiment.json", "point-0001",
                                     "point-0001/experiment.json", "point-0002",
                                     "point-0002/experiment.json", "points.json", "sweep.json"}));
    QCOMPARE(read_text(folder.dir() + "/sweep.json"), s.dump(2));
    QCOMPARE(read_text(folder.point_dir(2) + "/experiment.json"), sweep.points[2].config_json);
    QCOMPARE(tree(out), (std::vector<std::string>{"grid", "grid/point-0000", "grid/point-0000/experiment.json",
                                                  "grid/point-0001", "grid/point-0001/experiment.json",
                                                  "grid/point-0002", "grid/point-0002/experiment.json",
                                                  "grid/points.json", "grid/sweep.json"}));  // no staging folder left
    const kd::SweepStatus status = folder.status();
    QCOMPARE(status.count(kd::PointState::kPending), 3);

    // The same sweep again (even written differently) reopens the folder.
    const kd::SweepFolder again = kd::SweepFolder::create(kd::sweep_from_json(s.dump(4), "grid.json"), s.dump(4), out);
    QCOMPARE(again.dir(), folder.dir());
    QCOMPARE(read_text(folder.dir() + "/sweep.json"), s.dump(2));

    // Another sweep of the same name is refused and nothing changes.
    const std::vector<std::string> before = tree(out);
    const json other = sweep_with({{"seed", {0, 1, 2, 3}}});
    const std::string message = error_of([&] {
      kd::SweepFolder::create(kd::sweep_from_json(other.dump(), "grid.json"), other.dump(), out);
    });
    QCOMPARE(message, out + "/grid holds another sweep ('grid', 3 points, from a different sweep "
                            "file): give this sweep another \"name\" or --out, or delete that folder first");
    QCOMPARE(tree(out), before);

    // A folder that is not a sweep.
    write_text(fs::path(out) / "notes" / "readme.txt", "mine");
    json named = s;
    named["name"] = "notes";
    QCOMPARE(error_of([&] { kd::SweepFolder::create(kd::sweep_from_json(named.dump(), "n.json"), named.dump(), out); }),
             out + "/notes exists and is not a sweep folder: give the sweep another \"name\" or --out");
    QCOMPARE(error_of([&] { kd::SweepFolder::open(out + "/notes"); }),
             out + "/notes is not a sweep folder (it has no points.json; 'kdstudio-cli sweep run "
                   "SWEEP.json' makes one)");
    QCOMPARE(error_of([&] { folder.point_dir(3); }),
             "the sweep " + folder.dir() + " has points 0 to 2; there is no point 3");
  }

  void statusIsReadFromThePointFolders() {
    QTemporaryDir tmp;
    const json s = sweep_with({{"seed", {0, 1, 2, 3}}});
    const kd::SweepFolder folder =
        kd::SweepFolder::create(kd::sweep_from_json(s.dump(), "grid.json"), s.dump(), tmp.path().toStdString());
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    // Point 0: run by this (live) process.
    write_text(folder.point_dir(0) + "/running.json",
               json({{"pid", getpid()}, {"host", host}, {"started", "now"}}).dump());
    // Point 1: a marker left by a process that is gone.
    const pid_t child = fork();
    if (child == 0) _exit(0);
    int wstatus = 0;
    waitpid(child, &wstatus, 0);
    write_text(folder.point_dir(1) + "/running.json",
               json({{"pid", child}, {"host", host}, {"started", "then"}}).dump());
    // Point 2: failed.
    write_text(folder.point_dir(2) + "/failed.json", json({{"error", "teacher: no such file"}}).dump());
    // Point 3: run on another host (cannot be checked from here: taken as running).
    write_text(folder.point_dir(3) + "/running.json",
               json({{"pid", 1}, {"host", "node-77"}, {"started", "x"}, {"slurm_job", "12_3"}}).dump());
    const kd::SweepStatus st = folder.status();
    QCOMPARE(st.points[0].state, kd::PointState::kRunning);
    QVERIFY(st.points[0].detail.find("pid " + std::to_string(getpid())) != std::string::npos);
    QCOMPARE(st.points[1].state, kd::PointState::kPending);
    QCOMPARE(st.points[2].state, kd::PointState::kFailed);
    QCOMPARE(st.points[2].detail, std::string("teacher: no such file"));
    QCOMPARE(st.points[3].state, kd::PointState::kRunning);
    QCOMPARE(st.points[3].detail, std::string("Slurm job 12_3, pid 1 on node-77 since x"));
    // The live marker keeps another run of the point out.
    QCOMPARE(error_of([&] { kd::run_sweep_point(folder, 0); }),
             "point 0 of " + folder.dir() + " is being run already (" + st.points[0].detail + ")");
  }

  void resultsArePooledOverSeeds() {
    kd::SweepStatus status;
    const auto point = [&](int index, const std::string& group, const std::string& method,
                           std::optional<kd::RunSummary> run) {
      kd::PointStatus p;
      p.point.index = index;
      p.point.group = group;
      p.point.label = group + " seed=" + std::to_string(index);
      p.point.settings = {{"method", "\"" + method + "\""}, {"seed", std::to_string(index)}};
      p.state = run ? kd::PointState::kDone : kd::PointState::kPending;
      p.run = run;
      status.points.push_back(p);
    };
    point(0, "method=kd", "kd", finished_run({80}, {78}));
    point(1, "method=kd", "kd", finished_run({90}, {88}));
    point(2, "method=ours", "ours", finished_run({70, 72}, {70, 71}));  // one point with 2 seeds
    point(3, "method=ours", "ours", std::nullopt);
    const std::vector<kd::SweepGroup> groups = kd::group_results(status);
    QCOMPARE(groups.size(), size_t(2));
    QCOMPARE(groups[0].points, (std::vector<int>{0, 1}));
    QCOMPARE(groups[0].seeds, 2);
    QCOMPARE(*groups[0].best_mean, 85.0);  // (80 + 90) / 2
    QCOMPARE(*groups[0].best_std, 5.0);    // population std
    QCOMPARE(*groups[0].last_mean, 83.0);
    QCOMPARE(groups[1].points_done, 1);
    QCOMPARE(groups[1].seeds, 2);
    QCOMPARE(*groups[1].best_mean, 71.0);
    QCOMPARE(*groups[1].best_std, 1.0);
    QCOMPARE(kd::sweep_csv(status),
             std::string("group,method,points,points_done,seeds,best_mean,best_std,last_mean,last_std\n"
                         "method=kd,kd,2,2,2,85.0000,5.0000,83.0000,5.0000\n"
                         "method=ours,ours,2,1,2,71.0000,1.0000,70.5000,0.5000\n"));
    const json j = json::parse(kd::sweep_status_json(status));
    QCOMPARE(j["counts"]["done"].get<int>(), 3);
    QCOMPARE(j["counts"]["pending"].get<int>(), 1);
    QCOMPARE(j["groups"][0]["best_mean"].get<double>(), 85.0);
    QCOMPARE(j["points"][1]["settings"]["seed"].get<int>(), 1);
  }

  void slurmArraySpecAndScript() {
    QCOMPARE(kd::array_spec({0, 1, 2, 3, 5, 7, 8, 9}, 4), std::string("0-3,5,7-9%4"));
    QCOMPARE(kd::array_spec({6}, 0), std::string("6"));
    QCOMPARE(error_of([] { kd::array_spec({}, 0); }), std::string("a job array needs at least one task"));
    QTemporaryDir tmp;
    json s = sweep_with({{"seed", {0, 1, 2}}});
    s["name"] = "it's a grid";
    const kd::SweepFolder folder =
        kd::SweepFolder::create(kd::sweep_from_json(s.dump(), "g.json"), s.dump(), tmp.path().toStdString());
    kd::SlurmOptions o;
    o.partition = "gpu";
    o.time = "01:00:00";
    o.gpus_per_task = 1;
    o.max_parallel = 2;
    o.executable = "/opt/kd studio/kdstudio-cli";
    o.workdir = "/home/me";
    const std::string script = kd::sbatch_script(folder, {0, 2}, o);
    for (const std::string line :
         {"#SBATCH --array=0,2%2\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=01:00:00\n",
          "#SBATCH --gpus-per-task=1\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:USR1@120\n",
          "#SBATCH --chdir=/home/me\n", "#SBATCH --job-name=kd-it_s_a_grid\n",
          "'/opt/kd studio/kdstudio-cli' --threads \"${SLURM_CPUS_PER_TASK:-0}\" sweep run-point ",
          "scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"}) {
      QVERIFY2(script.find(line) != std::string::npos, line.c_str());
    }
    QVERIFY(script.find("--account") == std::string::npos);  // not asked for
    QVERIFY(script.find("--cpus-per-task") == std::string::npos);
    // The script is valid shell.
    write_text(tmp.path().toStdString() + "/a.sbatch", script);
    QCOMPARE(QProcess::execute("bash", {"-n", tmp.path() + "/a.sbatch"}), 0);
  }

  void layerStudySweepCoversEveryChoice() {
    std::vector<kd::StudyLayer> layers;
    for (int i = 0; i < 8; ++i) layers.push_back({i, "layer" + std::to_string(i), 0.1 * i, 0, 0, 0});
    json base = tiny_base();
    base["method"] = "ours";
    base["teacher"] = "resnet9:channels=1,size=28,width=0.125";
    base["num_layers"] = 3;
    base["seed"] = 10;
    kd::LayerStudyOptions o;
    o.seeds = 2;
    o.random_sets = 4;
    const std::string text = kd::layer_study_sweep("st", base.dump(), layers, o);
    const kd::Sweep sweep = kd::sweep_from_json(text, "st.json");
    QCOMPARE(sweep.points.size(), size_t((6 + 4) * 2));
    const char* named[] = {"Q", "standard", "S", "I", "E", "sqrtIE"};
    std::set<std::vector<int>> random_sets;
    for (size_t c = 0; c < 10; ++c) {
      const kd::SweepPoint& p = sweep.points[c * 2 + 1];
      QCOMPARE(p.config.seed, uint64_t(11));  // seeds 10 and 11, one per point
      QCOMPARE(p.config.seeds, 1);
      if (c < 6) {
        QCOMPARE(p.group, std::string("teacher_layers=") + named[c]);
        continue;
      }
      const std::vector<int>& set = p.config.teacher_layers->indices;
      QCOMPARE(set.size(), size_t(3));
      QVERIFY(std::is_sorted(set.begin(), set.end()));
      QVERIFY(set.front() >= 0 && set.back() < 8);
      random_sets.insert(set);
    }
    QCOMPARE(random_sets.size(), size_t(4));  // distinct
    // The same seed draws the same sets.
    QCOMPARE(kd::layer_study_sweep("st", base.dump(), layers, o), text);

    base["method"] = "kd";
    QCOMPARE(error_of([&] { kd::layer_study_sweep("st", base.dump(), layers, o); }),
             std::string("the layer study varies the teacher layers, and method 'kd' distils none: "
                         "use ours (or ours_ce, ours_kd, fitnets)"));
    base["method"] = "ours";
    base["num_layers"] = 9;
    QCOMPARE(error_of([&] { kd::layer_study_sweep("st", base.dump(), layers, o); }),
             std::string("the study chooses 9 teacher layers (num_layers), and the teacher has 8"));
  }

  void spearmanMatchesHandComputedRanks() {
    // Ranks of y with a tie: [1, 2, 3.5, 5, 3.5]; rho = 8 / sqrt(10 * 9.5).
    QCOMPARE(kd::spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 8.0 / std::sqrt(95.0));
    QCOMPARE(kd::spearman({1, 2, 3}, {30, 20, 10}), -1.0);
    QVERIFY(std::isnan(kd::spearman({1, 2, 3}, {4, 4, 4})));
    QCOMPARE(error_of([] { kd::spearman({1}, {2}); }),
             std::string("Spearman's correlation needs two equally long lists of at least 2 values"));
  }

  void layerStudyReportAndVerdict() {
    const std::vector<kd::StudyLayer> layers = {
        {0, "a", 0.1, 0, 0, 0}, {1, "b", 0.2, 0, 0, 0}, {2, "c", 0.9, 0, 0, 0}, {3, "d", 0.5, 0, 0, 0}};
    kd::SweepStatus status;
    int index = 0;
    const auto point = [&](const std::string& choice, std::vector<int> chosen, double best) {
      kd::PointStatus p;
      p.point.index = index++;
      p.point.group = "teacher_layers=" + choice;
      p.point.settings = {{"teacher_layers", choice[0] == '[' ? choice : "\"" + choice + "\""}};
      p.run = finished_run({best}, {best});
      p.run->teacher_layers = chosen;
      p.state = kd::PointState::kDone;
      status.points.push_back(p);
    };
    point("Q", {2, 3}, 80);
    point("Q", {2, 3}, 82);
    point("standard", {1, 3}, 78);
    point("standard", {1, 3}, 78);
    point("[0,1]", {0, 1}, 70);
    const kd::StudyReport r = kd::layer_study_report(status, layers);
    QCOMPARE(r.rows.size(), size_t(3));
    QCOMPARE(r.rows[0].choice, std::string("Q"));
    QCOMPARE(*r.rows[0].mean_q, (0.9 + 0.5) / 2);
    QCOMPARE(*r.rows[0].acc_mean, 81.0);
    QCOMPARE(*r.rows[1].mean_q, (0.2 + 0.5) / 2);
    QCOMPARE(r.rows[2].choice, std::string("[0,1]"));
    QCOMPARE(*r.rows[2].mean_q, (0.1 + 0.2) / 2);
    QCOMPARE(*r.spearman, 1.0);
    // Q - standard = 3 points; standard error sqrt(1^2/2 + 0^2/2) = 0.71.
    QCOMPARE(r.verdict, std::string("On this data, the Q layers beat the standard ones by 3.00 +- 0.71 "
                                    "points. Across the layer choices, accuracy rises with the mean "
                                    "Q of the chosen teacher layers (Spearman's rho = 1.00)."));
  }

  void aPointTrainsAndItsFailureIsRecorded() {
    if (!fs::exists(fs::path(kFashionDir) / "train-images-idx3-ubyte.gz") &&
        !fs::exists(fs::path(kFashionDir) / "train-images-idx3-ubyte")) {
      QSKIP("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    }
    QTemporaryDir tmp;
    json s = sweep_with({{"student", {"resnet9:channels=1,size=28,width=0.125", "no-such-model.kdmodel"}}});
    const kd::SweepFolder folder =
        kd::SweepFolder::create(kd::sweep_from_json(s.dump(), "g.json"), s.dump(), tmp.path().toStdString());
    const kd::ExperimentResult result = kd::run_sweep_point(folder, 0);
    QVERIFY(result.complete);
    kd::SweepStatus st = folder.status();
    QCOMPARE(st.points[0].state, kd::PointState::kDone);
    QCOMPARE(st.points[0].run->best_mean.value(), result.best_test_acc_mean);
    QVERIFY(fs::exists(st.points[0].run_dir + "/result.json"));
    QCOMPARE(fs::path(st.points[0].run_dir).parent_path().string(), folder.point_dir(0));
    QVERIFY(!fs::exists(folder.point_dir(0) + "/running.json"));  // removed at the end

    const std::string message = error_of([&] { kd::run_sweep_point(folder, 1); });
    QVERIFY2(message.find("no-such-model.kdmodel") != std::string::npos, message.c_str());
    st = folder.status();
    QCOMPARE(st.points[1].state, kd::PointState::kFailed);
    QCOMPARE(st.points[1].detail, message);
    QVERIFY(!fs::exists(folder.point_dir(1) + "/running.json"));
  }
};

QTEST_GUILESS_MAIN(TestSweep)
#include "test_sweep.moc"
