#include "sweep/slurm_submit.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "io/atomic_file.h"
#include "io/text_file.h"
#include "common/child_process.h"

namespace kd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kSlurmFolder = "slurm";
constexpr const char* kScriptFile = "array.sbatch";
constexpr const char* kJobsFile = "jobs.json";

/// A word for a POSIX shell: single-quoted unless it is plainly safe.
std::string shell_word(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789-_./:=@%+,") == std::string::npos)
    return text;
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string jobs_path(const SweepFolder& folder) {
  return (fs::path(folder.dir()) / kSlurmFolder / kJobsFile).string();
}

}  // namespace

std::string array_spec(const std::vector<int>& indices, int max_parallel) {
  if (indices.empty()) throw Error("a job array needs at least one task");
  std::string spec;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    spec += (spec.empty() ? "" : ",") + std::to_string(indices[i]);
    if (j > i) spec += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  if (max_parallel > 0) spec += "%" + std::to_string(max_parallel);
  return spec;
}

std::string sbatch_script(const SweepFolder& folder, const std::vector<int>& indices,
                          const SlurmOptions& o) {
  const std::string dir = fs::absolute(folder.dir()).lexically_normal().string();
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# KD Studio sweep '" << folder.name() << "': " << indices.size() << " of "
    << folder.size() << " points as a Slurm job array.\n"
    << "# Written by 'kdstudio-cli sweep submit'; each task runs one point (docs/sweeps.md).\n"
    << "#SBATCH --job-name=" << shell_word("kd-" + safe_file_name(folder.name(), "sweep")) << "\n"
    << "#SBATCH --array=" << array_spec(indices, o.max_parallel) << "\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --output=" << shell_word(dir + "/" + kSlurmFolder + "/%A_%a.out") << "\n"
    << "#SBATCH --open-mode=append\n"
    << "#SBATCH --requeue\n"
    << "#SBATCH --signal=B:USR1@" << o.signal_seconds << "\n";
  if (!o.workdir.empty()) s << "#SBATCH --chdir=" << shell_word(o.workdir) << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << shell_word(o.partition) << "\n";
  if (!o.account.empty()) s << "#SBATCH --account=" << shell_word(o.account) << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << shell_word(o.time) << "\n";
  if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
  if (o.gpus_per_task > 0) s << "#SBATCH --gpus-per-task=" << o.gpus_per_task << "\n";
  std::string command = shell_word(o.executable) + " --threads \"${SLURM_CPUS_PER_TASK:-0}\" sweep run-point " +
                        shell_word(dir) + " \"$SLURM_ARRAY_TASK_ID\"";
  for (const auto& a : o.point_args) command += " " + shell_word(a);
  s << "\nset -u\n"
    << "log=$(printf '%s/point-%04d/" << kPointLogFile << "' " << shell_word(dir)
    << " \"$SLURM_ARRAY_TASK_ID\")\n"
    << "echo \"== task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname), start "
       "${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)\" >> \"$log\"\n"
    << "# In the background, so that the traps below run while it trains.\n"
    << command << " >> \"$log\" 2>&1 &\n"
    << "child=$!\n"
    << "# Before the time limit (USR1): stop the point (it keeps its last epoch's checkpoint) and\n"
    << "# requeue this task, which resumes it. On scancel or preemption (TERM): stop it.\n"
    << "on_time_limit() {\n"
    << "  kill -TERM \"$child\" 2>/dev/null\n"
    << "  wait \"$child\"\n"
    << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
    << "}\n"
    << "trap on_time_limit USR1\n"
    << "trap 'kill -TERM \"$child\" 2>/dev/null' TERM\n"
    << "status=0\n"
    << "# A trapped signal ends 'wait' early: wait until the child has really ended.\n"
    << "while kill -0 \"$child\" 2>/dev/null; do wait \"$child\"; status=$?; done\n"
    << "exit \"$status\"\n";
  return s.str();
}

Submission submit_sweep(const SweepFolder& folder, const SlurmOptions& options, bool dry_run) {
  Submission sub;
  for (const PointStatus& p : folder.status().points) {
    if (p.state != PointState::kDone && p.state != PointState::kRunning) sub.indices.push_back(p.point.index);
  }
  const fs::path slurm_dir = fs::path(folder.dir()) / kSlurmFolder;
  sub.script_path = (slurm_dir / kScriptFile).string();
  if (sub.indices.empty()) return sub;
  const std::string sbatch = find_program("sbatch");
  if (sbatch.empty() && !dry_run) {
    throw Error("sbatch was not found on the PATH: submitting needs Slurm's client tools on this "
                "machine (a cluster's login node). 'kdstudio-cli sweep run' runs the sweep here; "
                "--dry-run writes the job script without submitting it");
  }
  std::error_code ec;
  fs::create_directories(slurm_dir, ec);
  if (ec) throw Error("cannot create " + slurm_dir.string() + ": " + ec.message());
  write_file_atomically(sub.script_path, sbatch_script(folder, sub.indices, options));
  if (dry_run) return sub;
  const CommandOutput out = run_command({sbatch, "--parsable", sub.script_path});
  std::string text = out.output;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (out.exit_code != 0) {
    throw Error("sbatch refused the job array (exit code " + std::to_string(out.exit_code) +
                "): " + text + "\nThe script is " + sub.script_path +
                "; nothing was submitted");
  }
  const std::string last_line = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  sub.job_id = last_line.substr(0, last_line.find(';'));  // "<id>;<cluster>" on federations
  if (sub.job_id.empty() || sub.job_id.find_first_not_of("0123456789") != std::string::npos) {
    throw Error("sbatch answered '" + text + "', not a job id; check squeue before submitting again");
  }
  json jobs = json::array();
  for (const auto& id : submitted_jobs(folder)) jobs.push_back(id);
  jobs.push_back(sub.job_id);
  write_file_atomically(jobs_path(folder), jobs.dump(2) + "\n");
  return sub;
}

std::vector<std::string> submitted_jobs(const SweepFolder& folder) {
  std::error_code ec;
  if (!fs::exists(jobs_path(folder), ec)) return {};
  try {
    return json::parse(read_text_file(jobs_path(folder))).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw Error(jobs_path(folder) + ": damaged (" + e.what() + ")");
  }
}

std::map<int, std::string> slurm_task_states(const SweepFolder& folder) {
  std::map<int, std::string> states;
  const std::vector<std::string> jobs = submitted_jobs(folder);
  const std::string squeue = find_program("squeue");
  if (jobs.empty() || squeue.empty()) return states;
  // One job at a time: squeue fails for the whole list when one job has left its memory.
  for (const auto& job : jobs) {
    const CommandOutput out = run_command({squeue, "-h", "-r", "-j", job, "-o", "%K %T"});
    if (out.exit_code != 0) continue;
    std::istringstream lines(out.output);
    std::string task, state;
    while (lines >> task >> state) {
      try {
        states[std::stoi(task)] = state;  // later submissions overwrite earlier ones
      } catch (const std::exception&) {  // "N/A" for a job that is not an array task
      }
    }
  }
  return states;
}

}  // namespace kd
