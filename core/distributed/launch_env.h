#pragma once
// Where a process stands in a data-parallel run: read from the environment that torchrun or
// Slurm's srun set for each process they start (docs/distributed.md).
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace kd {

/// One rank's place in a multi-process run and where its rendezvous (a c10d TCPStore) is.
struct LaunchEnv {
  int rank = 0;              ///< global rank, 0 .. world_size - 1
  int world_size = 1;        ///< number of ranks
  int local_rank = 0;        ///< rank on this node (the GPU a CUDA rank uses)
  int local_world_size = 1;  ///< ranks on this node (they share its cores)
  std::string master_addr;   ///< host of rank 0's TCPStore
  int master_port = 0;       ///< its port
  std::string launcher;      ///< "torchrun" (or kdstudio-cli --nproc) or "slurm"
  /// torchrun's agent already serves the store on master_port (TORCHELASTIC_USE_AGENT_STORE):
  /// rank 0 connects to it instead of starting one.
  bool agent_store = false;

  /// "rank 1 of 4 (local 1 of 2), rendezvous at node01:29500, started by slurm".
  std::string describe() const;
};

/// The port used when Slurm starts the ranks and MASTER_PORT is not set: 29500 plus the job id
/// modulo 1000, so that jobs sharing a node do not collide.
int slurm_default_port(int64_t job_id);

/// The first host of a Slurm node list ("node[03-05,7],gpu2" -> "node03").
/// Throws kd::Error for a list it cannot read.
std::string first_slurm_node(const std::string& nodelist);

/// The launch environment in `env` (variable -> value), or nullopt when nothing there asks for
/// more than one process. torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT) come first; otherwise an srun job step (SLURM_PROCID,
/// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE or SLURM_NTASKS_PER_NODE,
/// MASTER_ADDR or the step's first node, MASTER_PORT or slurm_default_port). A batch script
/// itself (no job step) is one process. Throws kd::Error naming the variable that is missing
/// or wrong.
std::optional<LaunchEnv> launch_env_from(const std::map<std::string, std::string>& env);

/// launch_env_from() of this process's environment.
std::optional<LaunchEnv> launch_env_from_environment();

}  // namespace kd
