#pragma once
// A sweep as a Slurm job array (docs/sweeps.md): one array task per point, each running
// `kdstudio-cli sweep run-point` on the shared sweep folder. Tasks are requeueable; before the
// time limit Slurm signals the task, which stops its point (the last epoch's checkpoint stays)
// and requeues itself, and the requeued task resumes it.
#include <map>
#include <string>
#include <vector>

#include "sweep/sweep_folder.h"

namespace kd {

/// What the job array asks Slurm for.
struct SlurmOptions {
  std::string partition, account;  ///< empty: the cluster's default
  std::string time;                ///< per task, in Slurm's format ("04:00:00"); empty: default
  int cpus_per_task = 0;           ///< 0: the cluster's default
  int gpus_per_task = 0;
  int max_parallel = 0;            ///< tasks at once ("%M"); 0: no limit
  int signal_seconds = 120;        ///< the warning signal this long before the time limit
  std::string executable;          ///< kdstudio-cli as the nodes see it (an absolute path)
  std::vector<std::string> point_args;  ///< extra arguments of each run-point
  std::string workdir;  ///< the tasks' working folder (relative model and data paths resolve here)
};

/// Slurm's --array value for these indices: runs of consecutive indices as ranges ("0-3,5,7-9"),
/// "%M" appended when max_parallel > 0. Throws kd::Error for an empty list.
std::string array_spec(const std::vector<int>& indices, int max_parallel);

/// The sbatch script of a job array over `indices`.
std::string sbatch_script(const SweepFolder& folder, const std::vector<int>& indices,
                          const SlurmOptions& options);

/// A submission (or, on a dry run, what would be submitted).
struct Submission {
  std::string script_path;   ///< <sweep>/slurm/array.sbatch
  std::vector<int> indices;  ///< the points submitted (those not done and not running)
  std::string job_id;        ///< sbatch's job id; empty on a dry run or when nothing was left
};

/// Writes the script for every point that is not done and not running, and unless `dry_run`
/// submits it with `sbatch --parsable`, recording the job id in <sweep>/slurm/jobs.json. Throws
/// kd::Error when sbatch is not on the PATH or refuses the job (with its message).
Submission submit_sweep(const SweepFolder& folder, const SlurmOptions& options, bool dry_run);

/// The job ids submitted for this sweep (slurm/jobs.json), oldest first.
std::vector<std::string> submitted_jobs(const SweepFolder& folder);

/// Slurm's view of the sweep's array tasks, point index -> state ("PENDING", "RUNNING", ...)
/// from squeue; empty when nothing was submitted, squeue is not on the PATH or fails.
std::map<int, std::string> slurm_task_states(const SweepFolder& folder);

}  // namespace kd
