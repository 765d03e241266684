#include "study_commands.h"

#include <cmath>
#include <iostream>
#include <memory>

#include "common/error.h"
#include "experiment/experiment_setup.h"
#include "sweep/layer_study.h"
#include "sweep/sweep_spec.h"
#include "sweep_commands.h"
#include "terminal_progress.h"
#include "text_table.h"
#include "train_commands.h"

namespace kd::cli {

namespace {

struct StudyOptions {
  std::string config, out = "sweeps", name, device;
  int seeds = 3, random_sets = 3, jobs = 1;
  uint64_t random_seed = 0;
  bool prepare_only = false;
};

std::string layer_list(const std::vector<int>& layers) {
  std::string t;
  for (size_t i = 0; i < layers.size(); ++i) t += (i ? "," : "") + std::to_string(layers[i]);
  return t;
}

std::string number(double v, const char* format = "%.3f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

/// The teacher's layer scores, from the layer analysis the experiment's Q choice runs.
std::vector<StudyLayer> analyse_teacher(const ExperimentConfig& base, const std::string& device) {
  PrepareOptions prepare;
  if (!device.empty()) prepare.device = device;
  TerminalProgress progress("analysis");
  return analyse_study_teacher(base, prepare, &progress);
}

void print_report(const SweepFolder& folder) {
  const StudyReport report = layer_study_report(folder.status(), read_study_layers(folder.dir()));
  TextTable table({"teacher layers", "chosen", ">mean Q", ">seeds", ">best % (mean +- std)"});
  for (const StudyRow& r : report.rows) {
    table.add_row({r.choice, r.layers.empty() ? "" : layer_list(r.layers),
                   r.mean_q ? number(*r.mean_q) : "", std::to_string(r.seeds),
                   r.acc_mean ? percent(*r.acc_mean) + " +- " + percent(r.acc_std.value_or(0)) : ""});
  }
  std::cout << "Layer-choice study '" << folder.name() << "' (" << folder.dir() << "):\n";
  table.print(std::cout);
  if (report.spearman) {
    std::cout << "Spearman's rho (accuracy vs mean Q): "
              << (std::isfinite(*report.spearman) ? number(*report.spearman, "%.2f") : "undefined (a constant side)")
              << "\n";
  }
  std::cout << report.verdict << "\n";
}

void run_study(const StudyOptions& o) {
  const ExperimentConfig base = load_experiment_file(o.config);
  std::cout << "Step 1: the knowledge quality of every teacher layer (method.md section 2).\n";
  const std::vector<StudyLayer> layers = analyse_teacher(base, o.device);
  TextTable scores({">#", "layer", ">S", ">I", ">E", ">Q"});
  for (const StudyLayer& l : layers) {
    scores.add_row({std::to_string(l.index), l.name, number(l.separation), number(l.information),
                    number(l.efficiency), number(l.quality)});
  }
  scores.print(std::cout);
  LayerStudyOptions options;
  options.seeds = o.seeds;
  options.random_sets = o.random_sets;
  options.random_seed = o.random_seed;
  const SweepFolder folder = create_layer_study(
      base, layers, options, o.name.empty() ? layer_study_name(base) : o.name, o.out);
  std::cout << "\nStep 2: train the base experiment with each teacher layer choice: "
            << folder.size() << " runs (" << folder.size() / o.seeds
            << " choices x " << o.seeds << (o.seeds == 1 ? " seed" : " seeds") << ") in "
            << folder.dir() << "\n";
  if (o.prepare_only) {
    std::cout << "Prepared only. Run it here with: kdstudio-cli sweep run " << folder.dir()
              << " --jobs N\nor on Slurm with:  kdstudio-cli sweep submit " << folder.dir()
              << " --slurm ...\nthen: kdstudio-cli study report " << folder.dir() << "\n";
    return;
  }
  run_sweep_folder(folder, o.jobs, o.device);
  std::cout << "\n";
  print_report(folder);
}

}  // namespace

void add_study_commands(CLI::App& app, int& exit_code) {
  CLI::App* study = app.add_subcommand(
      "study", "The layer-choice study: do the Q layers help on your data? (docs/sweeps.md)");
  study->require_subcommand(1);
  auto o = std::make_shared<StudyOptions>();
  CLI::App* layers = study->add_subcommand(
      "layers", "Train with the Q, standard, S, I, E, sqrt(I*E) and random teacher layers, N seeds each");
  layers->add_option("--config", o->config, "The base experiment (a method that distils layers, e.g. ours)")->required();
  layers->add_option("--seeds", o->seeds, "Seeds per layer choice (default 3)")->check(CLI::Range(1, 100));
  layers->add_option("--random-sets", o->random_sets, "Random layer sets (default 3)")->check(CLI::Range(0, 100));
  layers->add_option("--random-seed", o->random_seed, "Seed of the random layer sets (default 0)");
  layers->add_option("--jobs,-j", o->jobs, "Runs at once (default 1)")->check(CLI::Range(1, 256));
  layers->add_option("--out", o->out, "Folder that receives the study's sweep folder (default: sweeps)");
  layers->add_option("--name", o->name, "The study's name (default: <experiment name>-study)");
  layers->add_option("--device", o->device, "auto, cpu, cuda or cuda:N");
  layers->add_flag("--prepare-only", o->prepare_only,
                   "Analyse and write the sweep folder, train nothing (then sweep run or sweep submit)");
  layers->footer(
      "Examples:\n"
      "  kdstudio-cli study layers --config experiments/fashion-mnist/ours-q.json --seeds 3 --jobs 2\n"
      "  kdstudio-cli study layers --config my.json --prepare-only --out /shared/sweeps\n"
      "  kdstudio-cli sweep submit /shared/sweeps/my-study --slurm --gpus-per-task 1\n"
      "  kdstudio-cli study report /shared/sweeps/my-study");
  layers->callback([o, &exit_code]() {
    run_study(*o);
    exit_code = 0;
  });
  auto dir = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* report = study->add_subcommand("report", "The study's table, Spearman's rho and verdict");
  report->add_option("STUDY_DIR", *dir, "The study's sweep folder")->required();
  report->add_flag("--json", *json, "Print the report as JSON (rows, spearman, verdict)");
  report->callback([dir, json, &exit_code]() {
    const SweepFolder folder = SweepFolder::open(*dir);
    if (*json) {
      std::cout << layer_study_report_json(
          layer_study_report(folder.status(), read_study_layers(folder.dir())));
    } else {
      print_report(folder);
    }
    exit_code = 0;
  });
}

}  // namespace kd::cli
