#include "train_commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/error.h"
#include "distributed_train.h"
#include "experiment/experiment_runner.h"
#include "models/bundled_models.h"
#include "terminal_progress.h"
#include "text_table.h"
#include "train_progress.h"

namespace kd::cli {

namespace {

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
  bool restart = false;
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
  int epochs = 3;
  int64_t per_class = 500;
};

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

  std::cout << "KD Studio demo: distil the bundled Fashion-MNIST teacher into a small student.\n"
               "Step 1: measure the knowledge quality Q of every teacher layer (method.md "
               "section 2) on a 1000-image sample.\n";
  ExperimentConfig ours = base;
  ours.method = Method::kOurs;
  ours.name = "demo-ours";
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
  std::cout << "\nStep 2: train the student by feature distillation only (no cross entropy in "
               "its backbone) from the chosen layers.\n";
  const ExperimentResult r_ours = train_runner(*runner);
  std::cout << "\nStep 3: the same student trained alone with cross entropy, for comparison.\n";
  ExperimentConfig alone = base;
  alone.method = Method::kStudent;
  alone.name = "demo-student";
  std::unique_ptr<ExperimentRunner> runner_alone =
      ExperimentRunner::create(alone, "", o.out, prepare, ExistingRun::kRestart);
  const ExperimentResult r_alone = train_runner(*runner_alone);
  std::cout << "\nDemo result (" << o.epochs << (o.epochs == 1 ? " epoch, " : " epochs, ") << base.train_per_class * 10
            << " training images):\n  distilled (ours): " << percent(r_ours.last_test_acc_mean)
            << " %\n  student alone:    " << percent(r_alone.last_test_acc_mean)
            << " %\nRun folders: " << runner->run_dir() << " and " << runner_alone->run_dir()
            << "\nNext: kdstudio-cli export " << runner->run_dir()
            << " --format safetensors --out student.kdmodel\n";
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
  train->add_flag("--restart", train_opts->restart,
                  "Start again when a run of this experiment exists already");
  add_parallel_options(train, train_opts->parallel);
  train->footer(
      "Examples:\n"
      "  kdstudio-cli train --config experiments/fashion-mnist/ours-q.json\n"
      "  kdstudio-cli train --config my-experiment.json --epochs 2 --out /tmp/runs\n"
      "  kdstudio-cli train --config cifar10_resnet34_resnet9.json --device cuda --seeds 3\n"
      "  kdstudio-cli train --config my-experiment.json --nproc 2\n"
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

  struct ExportOptions {
    std::string dir, format, out;
    int64_t seed = -1;
  };
  auto ex = std::make_shared<ExportOptions>();
  CLI::App* exp = app.add_subcommand("export", "Write a run's trained student to a file");
  exp->add_option("RUN_DIR", ex->dir, "The run folder")->required()->check(CLI::ExistingDirectory);
  exp->add_option("--format", ex->format, "safetensors (zoo students) or torchscript (students imported from TorchScript)")
      ->required()
      ->check(CLI::IsMember({"safetensors", "torchscript"}));
  exp->add_option("--out", ex->out, "Output file")->required();
  exp->add_option("--seed", ex->seed, "Which seed's student (default: the first)")->check(CLI::NonNegativeNumber);
  exp->footer(
      "Examples:\n"
      "  kdstudio-cli export runs/ours-1a2b3c4d --format safetensors --out student.kdmodel\n"
      "  kdstudio-cli export runs/ours-9f8e7d6c --format torchscript --out student.pt\n"
      "In PyTorch: torch.jit.load('student.pt'), or safetensors.torch.load_file('student.kdmodel').");
  exp->callback([ex, &exit_code]() {
    export_student(ex->dir, ex->format, ex->out,
                   ex->seed >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(ex->seed)) : std::nullopt);
    std::cout << "wrote " << ex->out << "\n";
    exit_code = 0;
  });

  auto demo_opts = std::make_shared<DemoOptions>();
  CLI::App* demo = app.add_subcommand(
      "demo", "A few-minute end-to-end run on Fashion-MNIST: analysis, layer choice, distillation");
  demo->add_option("--out", demo_opts->out, "Folder for the demo's runs (default: runs/demo)");
  demo->add_option("--epochs", demo_opts->epochs, "Epochs per training (default: 3)")->check(CLI::Range(1, 1000));
  demo->add_option("--per-class", demo_opts->per_class, "Training images per class (default: 500)")
      ->check(CLI::Range(1, 6000));
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
