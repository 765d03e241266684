#include "train_commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "distributed_train.h"
#include "experiment/experiment_runner.h"
#include "experiment/experiment_setup.h"
#include "models/bundled_models.h"
#include "terminal_progress.h"
#include "text_table.h"
#include "train_progress.h"

namespace kd::cli {

namespace {

/// Accuracy differences (points) one seed can move by at the demo's size.
constexpr double kDemoNoisePoints = 1.0;

std::string join(const std::vector<int>& v) {
  std::string t;
  for (size_t i = 0; i < v.size(); ++i) t += (i ? "," : "") + std::to_string(v[i]);
  return t;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read the config file " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

ExperimentResult train_runner(ExperimentRunner& runner) {
  print_plan(runner);
  TrainProgress progress;
  try {
    return runner.run(&progress);
  } catch (const Cancelled&) {
    std::cerr << "\nstopped; continue with: kdstudio-cli resume " << runner.run_dir() << "\n";
    throw;
  }
}

struct TrainOptions {
  std::string config, out = "runs", device, name;
  int seeds = 0, epochs = 0;
  bool restart = false, track_geometry = false;
  int64_t geometry_every = -1;
  ParallelOptions parallel;
};

int run_train(const TrainOptions& o) {
  if (auto code = launch_local_ranks(o.parallel)) return *code;
  std::vector<std::string> notes;
  ExperimentConfig config = load_experiment_file(o.config, &notes);  // names a missing file
  const std::string text = read_file(o.config);
  for (const auto& n : notes) std::cout << "note: " << n << "\n";
  if (o.epochs > 0) config.epochs = o.epochs;
  if (!o.name.empty()) config.name = o.name;
  if (o.track_geometry || o.geometry_every >= 0) config.track_geometry = true;
  if (o.geometry_every >= 0) config.geometry_every = o.geometry_every;
  PrepareOptions prepare;
  if (!o.device.empty()) prepare.device = o.device;
  if (o.seeds > 0) prepare.seeds = o.seeds;
  const auto make = [&](const PrepareOptions& options) {
    TerminalProgress progress("prepare");
    auto runner = ExperimentRunner::create(config, text, o.out, options,
                                           o.restart ? ExistingRun::kRestart : ExistingRun::kFail, &progress);
    if (progress.cancelled()) throw Cancelled();  // Ctrl-C while loading: do not start training
    return runner;
  };
  const std::string device = o.device.empty() ? config.device : o.device;
  if (train_as_rank(o.parallel, device, make, prepare)) return 0;
  print_result(train_runner(*make(prepare)));
  return 0;
}

int run_resume(const std::string& dir, const std::string& device, const ParallelOptions& parallel) {
  if (auto code = launch_local_ranks(parallel)) return *code;
  PrepareOptions prepare;
  if (!device.empty()) prepare.device = device;
  const auto make = [&](const PrepareOptions& options) {
    TerminalProgress progress("prepare");
    auto runner = ExperimentRunner::open(dir, options, &progress);
    if (progress.cancelled()) throw Cancelled();
    return runner;
  };
  if (train_as_rank(parallel, device, make, prepare)) return 0;
  print_result(train_runner(*make(prepare)));
  return 0;
}

struct DemoOptions {
  std::string out = "runs/demo", device, teacher;
  int epochs = kDemoEpochs;
  int64_t per_class = kDemoPerClass;
  bool track_geometry = true;
};

/// One of the demo's trainings and what it gave.
struct DemoRun {
  std::string label, layers;
  ExperimentResult result;
  double seconds = 0;
  std::string run_dir;
};

DemoRun demo_train(ExperimentRunner& runner, const std::string& label) {
  const auto t0 = std::chrono::steady_clock::now();
  DemoRun r;
  r.label = label;
  const ExperimentConfig& c = runner.prepared().resolved;
  if (c.teacher_layers && c.student_layers) {
    r.layers = "[" + join(c.teacher_layers->indices) + "] -> [" + join(c.student_layers->indices) + "]";
  }
  r.result = train_runner(runner);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.run_dir = runner.run_dir();
  return r;
}

std::string signed_points(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f", d);
  return buf;
}

// The verdict in words, from the numbers and nothing else: which training ended best, and by how
// much ours with the Q layers differs from each of the others.
void print_verdict(const std::vector<DemoRun>& runs, int epochs, int64_t images) {
  const DemoRun& ours_q = runs.front();
  const auto best = std::max_element(runs.begin(), runs.end(), [](const DemoRun& a, const DemoRun& b) {
    return a.result.last_test_acc_mean < b.result.last_test_acc_mean;
  });
  std::cout << "\nVerdict (" << epochs << (epochs == 1 ? " epoch" : " epochs") << " on " << images
            << " training images, one seed each):\n";
  for (size_t i = 1; i < runs.size(); ++i) {
    const double d = ours_q.result.last_test_acc_mean - runs[i].result.last_test_acc_mean;
    std::cout << "  ours (Q layers) vs " << runs[i].label << ": " << signed_points(d) << " points"
              << (std::abs(d) < kDemoNoisePoints ? " (within seed-to-seed noise)" : "") << "\n";
  }
  const auto worst = std::min_element(runs.begin(), runs.end(), [](const DemoRun& a, const DemoRun& b) {
    return a.result.last_test_acc_mean < b.result.last_test_acc_mean;
  });
  if (best->result.last_test_acc_mean - worst->result.last_test_acc_mean < kDemoNoisePoints) {
    std::cout << "  No training stands out at this budget: all four ended within " << kDemoNoisePoints
              << " point of each other.\n";
    return;
  }
  std::cout << "  Best at this budget: " << best->label << " (" << percent(best->result.last_test_acc_mean)
            << " %).";
  if (best->label == "ours (standard layers)") {
    std::cout << " Here the standard teacher layers served ours better than Q's choice.";
  } else if (best->label == "vanilla KD") {
    std::cout << " Vanilla KD, whose backbone also learns from cross entropy, did better here.";
  } else if (best->label == "student alone") {
    std::cout << " The student alone did best: at this budget distillation did not help.";
  }
  std::cout << "\n  One seed each: differences under " << kDemoNoisePoints
            << " point can change with the seed (kdstudio-cli study layers --seeds 3 measures the "
               "layer choice properly).\n";
}

void run_demo(const DemoOptions& o) {
  const std::string teacher = o.teacher.empty() ? bundled_teacher_path() : o.teacher;
  if (teacher.empty()) {
    throw Error("the bundled Fashion-MNIST teacher (" + std::string(kBundledTeacherFile) +
                ") was not found; pass --teacher FILE or set KDSTUDIO_TEACHER");
  }
  ExperimentConfig base;
  base.dataset = "fashion-mnist";
  base.teacher = teacher;
  base.student = kDefaultStudentSpec;
  base.train_per_class = o.per_class;
  base.epochs = o.epochs;
  base.seeds = 1;
  base.analysis_per_class = 100;
  PrepareOptions prepare;
  if (!o.device.empty()) prepare.device = o.device;

  std::cout << "KD Studio demo: distil the bundled Fashion-MNIST teacher into a small student, and\n"
               "compare four trainings of the same student on the same data and budget.\n"
               "Step 1: measure the knowledge quality Q of every teacher layer (method.md "
               "section 2) on a 1000-image sample.\n";
  ExperimentConfig ours = base;
  ours.method = Method::kOurs;
  ours.name = "demo-ours-q";
  ours.track_geometry = o.track_geometry;
  ours.geometry_per_class = 20;
  std::unique_ptr<ExperimentRunner> runner;
  {
    TerminalProgress progress("analysis");
    runner = ExperimentRunner::create(ours, "", o.out, prepare, ExistingRun::kRestart, &progress);
    if (progress.cancelled()) throw Cancelled();
  }
  const auto& analysis = runner->prepared().analysis;
  if (analysis) {
    TextTable table({">#", "name", ">S", ">I", ">E", ">Q", ""});
    for (const auto& l : analysis->layers) {
      const auto& chosen = runner->prepared().resolved.teacher_layers->indices;
      const bool pick = std::find(chosen.begin(), chosen.end(), l.layer.index) != chosen.end();
      table.add_row({std::to_string(l.layer.index), l.layer.name, percent(l.scores.separation),
                     percent(l.scores.information), percent(l.scores.efficiency),
                     percent(l.scores.quality), pick ? "<- chosen" : ""});
    }
    table.print(std::cout);
  }
  std::vector<DemoRun> runs;
  std::cout << "\nStep 2 of 5: ours, from the Q layers: the backbone learns by feature losses only "
               "(no cross entropy reaches it).\n";
  runs.push_back(demo_train(*runner, "ours (Q layers)"));
  const auto next = [&](const char* step, ExperimentConfig c, const char* name, const char* label) {
    std::cout << "\n" << step << "\n";
    c.name = name;
    auto r = ExperimentRunner::create(c, "", o.out, prepare, ExistingRun::kRestart);
    runs.push_back(demo_train(*r, label));
  };
  ExperimentConfig standard = ours;
  standard.teacher_layers = LayerChoice{};  // the standard choice (method.md section 5)
  next("Step 3 of 5: ours again, from the standard teacher layers instead of Q's.", standard,
       "demo-ours-standard", "ours (standard layers)");
  ExperimentConfig kd = base;
  kd.method = Method::kKD;
  next("Step 4 of 5: vanilla KD (cross entropy and the teacher's soft labels, no features).", kd,
       "demo-kd", "vanilla KD");
  ExperimentConfig alone = base;
  alone.method = Method::kStudent;
  next("Step 5 of 5: the student alone, cross entropy only.", alone, "demo-student", "student alone");

  TextTable table({"training", "teacher -> student layers", ">last %", ">best %", ">time"});
  for (const DemoRun& r : runs) {
    table.add_row({r.label, r.layers.empty() ? "-" : r.layers, percent(r.result.last_test_acc_mean),
                   percent(r.result.best_test_acc_mean), format_duration(r.seconds)});
  }
  std::cout << "\n";
  table.print(std::cout);
  print_verdict(runs, o.epochs, base.train_per_class * 10);
  std::cout << "Run folders under " << o.out << " (" << runs.front().run_dir << " has geometry.jsonl: "
            << "open it on the app's Experiments page)\nNext: kdstudio-cli export " << runs.front().run_dir
            << " --format onnx --out student.onnx, then kdstudio-cli predict student.onnx IMAGE...\n";
}

}  // namespace

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

void print_plan(const ExperimentRunner& runner) {
  const PreparedExperiment& p = runner.prepared();
  const ExperimentConfig& c = p.resolved;
  std::cout << "Experiment: " << method_title(c.method) << "\n";
  std::cout << "Data:       " << p.data.name << ", " << p.train_indices.size() << " training / "
            << p.test_indices.size() << " test images" << (c.augment ? ", augmented" : "") << "\n";
  if (!c.teacher.empty()) std::cout << "Teacher:    " << c.teacher << "\n";
  std::cout << "Student:    " << c.student << "\n";
  if (c.teacher_layers && c.student_layers) {
    std::cout << "Layers:     teacher [" << join(c.teacher_layers->indices) << "] -> student ["
              << join(c.student_layers->indices) << "]\n";
  }
  std::cout << "Training:   " << c.optimizer << ", lr " << c.lr.value_or(0) << " (" << c.schedule
            << "), " << c.epochs << (c.epochs == 1 ? " epoch" : " epochs") << ", batch " << c.batch_size << ", " << c.seeds
            << (c.seeds == 1 ? " seed" : " seeds") << " from " << c.seed << "\n";
  std::cout << "Device:     " << p.device_description << "\n";
  std::cout << "Run folder: " << runner.run_dir() << "\n";
  std::cout.flush();
}

void print_result(const ExperimentResult& r) {
  TextTable table({">seed", ">epochs", ">best %", ">best epoch", ">last %", ">time"});
  for (const auto& s : r.seeds) {
    table.add_row({std::to_string(s.seed), std::to_string(s.epochs_done), percent(s.best_test_acc),
                   std::to_string(s.best_epoch + 1), percent(s.last_test_acc),
                   format_duration(s.seconds)});
  }
  std::cout << "\n";
  table.print(std::cout);
  std::cout << "\nBest test accuracy: " << percent(r.best_test_acc_mean) << " +- "
            << percent(r.best_test_acc_std) << " %\nLast test accuracy: "
            << percent(r.last_test_acc_mean) << " +- " << percent(r.last_test_acc_std)
            << " %  (mean +- std over " << r.seeds.size()
            << (r.seeds.size() == 1 ? " seed" : " seeds") << ")\nResults in "
            << r.run_dir << "/result.json\n";
}

void add_train_commands(CLI::App& app, int& exit_code) {
  auto train_opts = std::make_shared<TrainOptions>();
  CLI::App* train = app.add_subcommand(
      "train", "Train a student as an experiment config describes (docs/experiments.md)");
  // No CLI::ExistingFile check: a missing file is an "error: ..." naming it, exit 1, as elsewhere.
  train->add_option("--config", train_opts->config, "Experiment JSON (ours or a KD_wo_CE config)")
      ->required();
  train->add_option("--out", train_opts->out, "Folder that receives the run folder (default: runs)");
  train->add_option("--device", train_opts->device, "auto, cpu, cuda or cuda:N (overrides the config)");
  train->add_option("--seeds", train_opts->seeds, "Number of seeds (overrides the config)")
      ->check(CLI::Range(1, 100));
  train->add_option("--epochs", train_opts->epochs, "Epochs (overrides the config)")
      ->check(CLI::Range(1, 100000));
  train->add_option("--name", train_opts->name, "Run name (overrides the config)");
  train->add_flag("--track-geometry", train_opts->track_geometry,
                  "Measure the student's distilled layers on a probe sample after every epoch "
                  "(geometry.jsonl; docs/geometry-tracking.md)");
  train->add_option("--geometry-every", train_opts->geometry_every,
                    "Also every N steps within an epoch (implies --track-geometry)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  train->add_flag("--restart", train_opts->restart,
                  "Start again when a run of this experiment exists already");
  add_parallel_options(train, train_opts->parallel);
  train->footer(
      "Examples:\n"
      "  kdstudio-cli train --config experiments/fashion-mnist/ours-q.json\n"
      "  kdstudio-cli train --config my-experiment.json --epochs 2 --out /tmp/runs\n"
      "  kdstudio-cli train --config cifar10_resnet34_resnet9.json --device cuda --seeds 3\n"
      "  kdstudio-cli train --config my-experiment.json --nproc 2\n"
      "  kdstudio-cli train --config my-experiment.json --track-geometry\n"
      "  torchrun --standalone --nproc-per-node 8 --no-python kdstudio-cli train --config c.json\n"
      "  srun --ntasks 16 kdstudio-cli train --config c.json     (docs/distributed.md)\n"
      "Ctrl-C stops after the current batch; 'kdstudio-cli resume RUN_DIR' continues from the\n"
      "last epoch's checkpoint.");
  train->callback([train_opts, &exit_code]() { exit_code = run_train(*train_opts); });

  auto resume_dir = std::make_shared<std::string>();
  auto resume_device = std::make_shared<std::string>();
  auto resume_parallel = std::make_shared<ParallelOptions>();
  CLI::App* resume = app.add_subcommand("resume", "Continue an interrupted run from its last checkpoint");
  resume->add_option("RUN_DIR", *resume_dir, "The run folder")->required()->check(CLI::ExistingDirectory);
  resume->add_option("--device", *resume_device, "auto, cpu, cuda or cuda:N");
  add_parallel_options(resume, *resume_parallel);
  resume->footer("Example:\n  kdstudio-cli resume runs/ours-1a2b3c4d");
  resume->callback([resume_dir, resume_device, resume_parallel, &exit_code]() {
    exit_code = run_resume(*resume_dir, *resume_device, *resume_parallel);
  });

  auto demo_opts = std::make_shared<DemoOptions>();
  CLI::App* demo = app.add_subcommand(
      "demo", "A few-minute end-to-end comparison on Fashion-MNIST: analysis, layer choice, ours "
              "with Q's and the standard layers, vanilla KD and the student alone");
  demo->add_option("--out", demo_opts->out, "Folder for the demo's runs (default: runs/demo)");
  demo->add_option("--epochs", demo_opts->epochs,
                   "Epochs per training (default: " + std::to_string(kDemoEpochs) + ")")
      ->check(CLI::Range(1, 1000));
  demo->add_option("--per-class", demo_opts->per_class,
                   "Training images per class (default: " + std::to_string(kDemoPerClass) + ")")
      ->check(CLI::Range(1, 6000));
  demo->add_flag_callback("--no-geometry", [demo_opts]() { demo_opts->track_geometry = false; },
                 "Do not track the student's geometry in the first training");
  demo->add_option("--device", demo_opts->device, "auto, cpu, cuda or cuda:N");
  demo->add_option("--teacher", demo_opts->teacher, "Teacher file instead of the bundled one");
  demo->footer(
      "Examples:\n"
      "  kdstudio-cli demo --epochs 2\n"
      "  kdstudio-cli demo --epochs 2 --per-class 100 --out /tmp/kd-demo   (a quick check)");
  demo->callback([demo_opts, &exit_code]() {
    run_demo(*demo_opts);
    exit_code = 0;
  });
}

}  // namespace kd::cli
