#pragma once
// train and resume with several processes: started here (--nproc N), or one rank of a run that
// torchrun or Slurm's srun started (docs/distributed.md).
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "experiment/experiment_runner.h"

namespace kd::cli {

/// The options train and resume share for data parallelism.
struct ParallelOptions {
  int nproc = 1;          ///< ranks to start on this machine
  int timeout = 300;      ///< seconds: rendezvous and collectives
  bool check_replicas = false;
};

/// Adds --nproc, --dist-timeout and --check-replicas to `command`.
void add_parallel_options(CLI::App* command, ParallelOptions& options);

/// CPU threads for this process when --threads is not given: 0 (all cores) alone, the node's
/// cores shared evenly when it is one of several ranks on the node.
int default_rank_threads();

/// "rank 3: " in a rank other than 0 of a multi-process run (before its error messages), else "".
std::string rank_prefix();

/// Keeps the command line, so that --nproc can start copies of it.
void remember_invocation(int argc, char** argv);

/// With --nproc N > 1: starts N ranks of this same command on this machine and returns their
/// exit code (0 when all succeeded). Otherwise nullopt. Throws kd::Error for --nproc under a
/// launcher that started this process as a rank already.
std::optional<int> launch_local_ranks(const ParallelOptions& options);

/// Makes the runner on rank 0 (create or open) with the given preparation options.
using MakeRunner = std::function<std::unique_ptr<ExperimentRunner>(const PrepareOptions&)>;

/// When this process is one rank of a multi-process run (torchrun's or srun's environment):
/// joins the others, trains its share and returns true (rank 0 prints the plan, the progress
/// and the result; the other ranks print only errors). `device` is what the user asked for
/// ("" = the config's choice): a CUDA rank uses the GPU of its local rank. False when this
/// process runs alone.
bool train_as_rank(const ParallelOptions& options, const std::string& device, const MakeRunner& make,
                   PrepareOptions prepare);

}  // namespace kd::cli
