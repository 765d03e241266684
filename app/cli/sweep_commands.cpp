#include "sweep_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>

#include "common/error.h"
#include "io/atomic_file.h"
#include "io/text_file.h"
#include "stop_signals.h"
#include "common/child_process.h"
#include "sweep/slurm_submit.h"
#include "sweep/sweep_queue.h"
#include "sweep/sweep_summary.h"
#include "terminal_progress.h"
#include "text_table.h"
#include "train_commands.h"
#include "train_progress.h"

namespace kd::cli {

namespace {

namespace fs = std::filesystem;

/// Default folder that receives sweep folders.
constexpr const char* kDefaultSweepRoot = "sweeps";
/// Characters of a point's label or detail shown in a table cell.
constexpr size_t kMaxCell = 48;

std::string clipped(const std::string& text, size_t width = kMaxCell) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.size() <= width ? line : line.substr(0, width - 3) + "...";
}

std::string clock_time() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string mean_std_text(const std::optional<double>& mean, const std::optional<double>& std) {
  if (!mean) return "";
  return percent(*mean) + " +- " + percent(std.value_or(0));
}

void print_counts(const SweepStatus& s) {
  std::cout << s.count(PointState::kDone) << " done, " << s.count(PointState::kRunning)
            << " running, " << s.count(PointState::kInterrupted) << " interrupted, "
            << s.count(PointState::kFailed) << " failed, " << s.count(PointState::kPending)
            << " pending (of " << s.points.size() << ")\n";
}

void print_groups(const SweepStatus& s) {
  const std::vector<SweepGroup> groups = group_results(s);
  TextTable table({"sweep point", ">points done", ">seeds", ">best % (mean +- std)", ">last %"});
  for (const SweepGroup& g : groups) {
    table.add_row({clipped(g.group), std::to_string(g.points_done) + "/" + std::to_string(g.points.size()),
                   std::to_string(g.seeds), mean_std_text(g.best_mean, g.best_std),
                   mean_std_text(g.last_mean, g.last_std)});
  }
  table.print(std::cout);
}

void print_status(const SweepFolder& folder, const SweepStatus& s,
                  const std::map<int, std::string>& slurm) {
  std::cout << "Sweep '" << s.name << "' in " << s.dir << ": ";
  print_counts(s);
  TextTable table({">#", "point", "status", ">epochs", ">best %", "detail"});
  for (const PointStatus& p : s.points) {
    std::string state = point_state_name(p.state);
    if (const auto it = slurm.find(p.point.index); it != slurm.end() && p.state != PointState::kDone)
      state += " (Slurm: " + it->second + ")";
    const std::string epochs =
        p.run ? std::to_string(p.run->epochs_done) + "/" + std::to_string(p.run->epochs_planned) : "";
    table.add_row({std::to_string(p.point.index), clipped(p.point.label), state, epochs,
                   p.run && p.run->best_mean ? percent(*p.run->best_mean) : "", clipped(p.detail)});
  }
  table.print(std::cout);
  std::cout << "\nBy sweep point (seeds pooled):\n";
  print_groups(s);
  if (s.count(PointState::kFailed) > 0) {
    std::cout << "\nA failed point's output is in its log.txt, e.g. "
              << folder.point_dir(s.points[0].point.index) << "/" << kPointLogFile << "\n";
  }
}

/// Prints the queue's events as lines (they go to a log as well as to a terminal).
class QueuePrinter final : public QueueObserver {
 public:
  explicit QueuePrinter(int total) : total_(total) {}
  void on_point_started(const PointInfo& p, int pid) override {
    std::cout << "[" << clock_time() << "] start   point " << p.index << " (" << p.label
              << "), pid " << pid << std::endl;
  }
  void on_point_finished(const PointStatus& s, int exit_code) override {
    ++finished_;
    std::cout << "[" << clock_time() << "] " << point_state_name(s.state)
              << std::string(8 - std::min<size_t>(7, std::string(point_state_name(s.state)).size()), ' ')
              << "point " << s.point.index << " (" << s.point.label << ")";
    if (s.state == PointState::kDone && s.run && s.run->best_mean)
      std::cout << ": best " << percent(*s.run->best_mean) << " %";
    else if (s.state == PointState::kFailed)
      std::cout << ": " << clipped(s.detail, 200) << " (exit code " << exit_code << ")";
    std::cout << "  [" << finished_ << "/" << total_ << "]" << std::endl;
  }
  bool cancelled() const override { return StopSignals::requested(); }

 private:
  int total_, finished_ = 0;
};

struct RunOptions {
  std::string what, out = kDefaultSweepRoot, device;
  int jobs = 1;
};

void run_sweep(const RunOptions& o) {
  run_sweep_folder(open_or_create_sweep(o.what, o.out), o.jobs, o.device);
}
void run_point(const std::string& dir, int index, const std::string& device) {
  StopSignals stop;  // for the whole run: no gap between preparing and training
  // Its output goes to the point's log.txt: lines in the order they happen, stdout and stderr.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const SweepFolder folder = SweepFolder::open(dir);
  folder.point_dir(index);  // names an index outside the grid
  const PointInfo& point = folder.points()[static_cast<size_t>(index)];
  std::cout << "Sweep '" << folder.name() << "', point " << index << " of " << folder.size()
            << ": " << point.label << "\n";
  PrepareOptions prepare;
  if (!device.empty()) prepare.device = device;
  TerminalProgress progress("prepare");
  TrainProgress train;
  ExperimentResult result;
  try {
    result = run_sweep_point(folder, index, prepare, &train, &progress,
                             [&](const ExperimentRunner& runner) {
                               progress.finish();
                               print_plan(runner);
                             });
  } catch (const Cancelled&) {
    std::cerr << "\nstopped; the point continues from its last checkpoint when run again\n";
    throw;
  }
  print_result(result);
}

struct SubmitOptions {
  std::string what, out = kDefaultSweepRoot, device;
  bool slurm = false, dry_run = false;
  SlurmOptions slurm_options;
};

void submit(SubmitOptions o) {
  if (!o.slurm) throw Error("sweep submit needs a scheduler: pass --slurm (the one supported)");
  const SweepFolder folder = open_or_create_sweep(o.what, o.out);
  o.slurm_options.executable = self_executable();
  o.slurm_options.workdir = fs::current_path().string();
  if (!o.device.empty()) o.slurm_options.point_args = {"--device", o.device};
  const Submission sub = submit_sweep(folder, o.slurm_options, o.dry_run);
  if (sub.indices.empty()) {
    std::cout << "Nothing to submit: every point of " << folder.dir() << " is done or running.\n";
    return;
  }
  std::cout << "Sweep '" << folder.name() << "': " << sub.indices.size() << " of " << folder.size()
            << " points as a job array (" << array_spec(sub.indices, o.slurm_options.max_parallel)
            << ")\nJob script: " << sub.script_path << "\n";
  if (o.dry_run) {
    std::cout << "Dry run: nothing submitted. Submit with:\n  sbatch " << sub.script_path << "\n";
    return;
  }
  std::cout << "submitted job array " << sub.job_id << "\nWatch it with: kdstudio-cli sweep status "
            << folder.dir() << "\n";
}

}  // namespace

void run_sweep_folder(const SweepFolder& folder, int jobs, const std::string& device) {
  StopSignals stop;
  const SweepStatus before = folder.status();
  std::cout << "Sweep '" << folder.name() << "': " << folder.size() << " points in "
            << folder.dir() << "\n";
  print_counts(before);
  const int todo = before.count(PointState::kPending) + before.count(PointState::kInterrupted) +
                   before.count(PointState::kFailed);
  if (todo == 0) {
    std::cout << (before.count(PointState::kRunning) ? "Nothing to start here: the rest is running elsewhere.\n"
                                                     : "Every point is done.\n");
  } else {
    std::cout << "Running " << todo << (todo == 1 ? " point, " : " points, ") << jobs
              << " at a time; each point's output goes to its log.txt. Ctrl-C stops them "
                 "(run this again to continue).\n"
              << std::flush;
  }
  QueueOptions q;
  q.jobs = jobs;
  q.executable = self_executable();
  if (!device.empty()) q.point_args = {"--device", device};
  QueuePrinter printer(todo);
  const QueueOutcome outcome = run_sweep_queue(folder, q, &printer);
  const SweepStatus after = folder.status();
  std::cout << "\n";
  print_groups(after);
  std::cout << "\n";
  print_counts(after);
  if (outcome.stopped) {
    std::cerr << "stopped; continue with: kdstudio-cli sweep run " << folder.dir() << "\n";
    throw Cancelled();
  }
  if (after.count(PointState::kFailed) > 0) {
    throw Error(std::to_string(after.count(PointState::kFailed)) +
                " points failed; 'kdstudio-cli sweep status " + folder.dir() +
                "' lists them, their output is in each point's log.txt");
  }
}

void add_sweep_commands(CLI::App& app, int& exit_code) {
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Run a grid of experiments (a sweep file, docs/sweeps.md) here or on Slurm");
  sweep->require_subcommand(1);

  auto r = std::make_shared<RunOptions>();
  CLI::App* run = sweep->add_subcommand("run", "Run a sweep's points on this machine, N at a time");
  run->add_option("SWEEP", r->what, "A sweep file, or a sweep folder to continue")->required();
  run->add_option("--jobs,-j", r->jobs, "Points run at once (default 1); the cores are shared out")
      ->check(CLI::Range(1, 256));
  run->add_option("--out", r->out, "Folder that receives the sweep folder (default: sweeps)");
  run->add_option("--device", r->device, "auto, cpu, cuda or cuda:N (overrides the experiments)");
  run->footer(
      "Examples:\n"
      "  kdstudio-cli sweep run experiments/sweeps/methods.json --jobs 2\n"
      "  kdstudio-cli sweep run sweeps/methods            (continue: skips finished points)\n"
      "Ctrl-C stops every running point after its current batch; run it again to continue.");
  run->callback([r, &exit_code]() {
    run_sweep(*r);
    exit_code = 0;
  });

  auto st = std::make_shared<std::tuple<std::string, bool, std::string>>();
  CLI::App* status = sweep->add_subcommand("status", "Show a sweep's progress and results");
  status->add_option("SWEEP_DIR", std::get<0>(*st), "The sweep folder")->required();
  status->add_flag("--json", std::get<1>(*st), "Print the status as JSON");
  status->add_option("--csv", std::get<2>(*st), "Also write the results by sweep point as CSV to this file");
  status->callback([st, &exit_code]() {
    const SweepFolder folder = SweepFolder::open(std::get<0>(*st));
    const SweepStatus s = folder.status();
    if (!std::get<2>(*st).empty()) write_file_atomically(std::get<2>(*st), sweep_csv(s));
    if (std::get<1>(*st)) {
      std::cout << sweep_status_json(s);
    } else {
      print_status(folder, s, slurm_task_states(folder));
      if (!std::get<2>(*st).empty()) std::cout << "wrote " << std::get<2>(*st) << "\n";
    }
    exit_code = 0;
  });

  auto so = std::make_shared<SubmitOptions>();
  CLI::App* sub = sweep->add_subcommand("submit", "Submit a sweep to a Slurm cluster as a job array");
  sub->add_option("SWEEP", so->what, "A sweep file, or a sweep folder (its unfinished points)")->required();
  sub->add_flag("--slurm", so->slurm, "Submit to Slurm with sbatch (required)");
  sub->add_option("--out", so->out, "Folder that receives the sweep folder, on storage every node sees (default: sweeps)");
  sub->add_option("--partition", so->slurm_options.partition, "Slurm partition");
  sub->add_option("--account", so->slurm_options.account, "Slurm account");
  sub->add_option("--time", so->slurm_options.time, "Time limit per point, e.g. 04:00:00 (Slurm's format)");
  sub->add_option("--cpus-per-task", so->slurm_options.cpus_per_task, "CPU cores per point")->check(CLI::Range(1, 4096));
  sub->add_option("--gpus-per-task", so->slurm_options.gpus_per_task, "GPUs per point")->check(CLI::Range(0, 64));
  sub->add_option("--max-parallel", so->slurm_options.max_parallel, "Points running at once (the array's %M)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--device", so->device, "auto, cpu, cuda or cuda:N (overrides the experiments)");
  sub->add_flag("--dry-run", so->dry_run, "Write the sweep folder and the job script, submit nothing");
  sub->footer(
      "Examples:\n"
      "  kdstudio-cli sweep submit sweep.json --slurm --partition gpu --gpus-per-task 1 \\\n"
      "      --cpus-per-task 8 --time 04:00:00 --max-parallel 16 --out /shared/sweeps\n"
      "  kdstudio-cli sweep submit /shared/sweeps/methods --slurm   (again: the unfinished points)\n"
      "Tasks are requeueable: before the time limit a task stops its point at the last\n"
      "checkpoint and requeues itself; a preempted task resumes when it runs again.");
  sub->callback([so, &exit_code]() {
    submit(*so);
    exit_code = 0;
  });

  auto rp = std::make_shared<std::tuple<std::string, int, std::string>>();
  CLI::App* point = sweep->add_subcommand(
      "run-point", "Run one point of a sweep folder (what the queue and Slurm's tasks run)");
  point->add_option("SWEEP_DIR", std::get<0>(*rp), "The sweep folder")->required();
  point->add_option("INDEX", std::get<1>(*rp), "The point's index")->required()->check(CLI::NonNegativeNumber);
  point->add_option("--device", std::get<2>(*rp), "auto, cpu, cuda or cuda:N");
  point->callback([rp, &exit_code]() {
    run_point(std::get<0>(*rp), std::get<1>(*rp), std::get<2>(*rp));
    exit_code = 0;
  });
}

}  // namespace kd::cli
