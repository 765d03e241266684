#include "distributed/launch_env.h"

#include <cctype>
#include <cstdlib>

#include "common/error.h"

extern char** environ;

namespace kd {

namespace {

/// A variable's value, or nullopt when it is unset or empty.
std::optional<std::string> lookup(const std::map<std::string, std::string>& env, const std::string& name) {
  const auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

int64_t parse_number(const std::string& name, const std::string& value, int64_t low, int64_t high) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < low || v > high) {
    throw Error("the environment variable " + name + "='" + value + "' is not a whole number from " +
                std::to_string(low) + " to " + std::to_string(high));
  }
  return v;
}

int required_number(const std::map<std::string, std::string>& env, const std::string& name,
                    const std::string& launcher, int64_t low, int64_t high) {
  const auto v = lookup(env, name);
  if (!v) throw Error(launcher + " started this process without " + name + " in its environment");
  return static_cast<int>(parse_number(name, *v, low, high));
}

/// The first count of a Slurm tasks-per-node list ("2(x4),1" -> 2).
int first_count(const std::string& name, const std::string& list) {
  const std::string head = list.substr(0, list.find_first_of("(,"));
  return static_cast<int>(parse_number(name, head, 1, 1 << 20));
}

void check_rank(const LaunchEnv& e) {
  if (e.rank >= e.world_size) {
    throw Error("rank " + std::to_string(e.rank) + " is not below the world size " +
                std::to_string(e.world_size) + " (" + e.launcher + " environment)");
  }
  if (e.local_rank >= e.local_world_size) {
    throw Error("local rank " + std::to_string(e.local_rank) + " is not below the " +
                std::to_string(e.local_world_size) + " ranks of this node (" + e.launcher +
                " environment)");
  }
}

std::optional<LaunchEnv> torchrun_env(const std::map<std::string, std::string>& env) {
  const auto world = lookup(env, "WORLD_SIZE");
  const auto rank = lookup(env, "RANK");
  if (!world && !rank) return std::nullopt;
  const std::string who = "torchrun (or the launcher that set RANK and WORLD_SIZE)";
  LaunchEnv e;
  e.launcher = lookup(env, "KDSTUDIO_LAUNCHER").value_or("torchrun");
  e.world_size = required_number(env, "WORLD_SIZE", who, 1, 1 << 20);
  e.rank = required_number(env, "RANK", who, 0, 1 << 20);
  if (e.world_size == 1) return std::nullopt;
  const auto local = lookup(env, "LOCAL_RANK");
  e.local_rank = local ? static_cast<int>(parse_number("LOCAL_RANK", *local, 0, 1 << 20)) : e.rank;
  const auto local_world = lookup(env, "LOCAL_WORLD_SIZE");
  // Without LOCAL_WORLD_SIZE: one node when the local rank is the global one.
  e.local_world_size = local_world ? static_cast<int>(parse_number("LOCAL_WORLD_SIZE", *local_world, 1, 1 << 20))
                       : e.local_rank == e.rank ? e.world_size
                                                : e.local_rank + 1;
  const auto addr = lookup(env, "MASTER_ADDR");
  if (!addr) throw Error(who + " set WORLD_SIZE=" + std::to_string(e.world_size) + " but not MASTER_ADDR");
  e.master_addr = *addr;
  e.master_port = required_number(env, "MASTER_PORT", who, 1, 65535);
  const auto agent = lookup(env, "TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  check_rank(e);
  return e;
}

std::optional<LaunchEnv> slurm_env(const std::map<std::string, std::string>& env) {
  // Only a job step (srun) runs several copies; a batch script is the one process of its step.
  const auto tasks = lookup(env, "SLURM_STEP_NUM_TASKS");
  if (!tasks || !lookup(env, "SLURM_PROCID")) return std::nullopt;
  const std::string who = "Slurm (srun)";
  LaunchEnv e;
  e.launcher = "slurm";
  e.world_size = static_cast<int>(parse_number("SLURM_STEP_NUM_TASKS", *tasks, 1, 1 << 20));
  if (e.world_size == 1) return std::nullopt;
  e.rank = required_number(env, "SLURM_PROCID", who, 0, 1 << 20);
  e.local_rank = required_number(env, "SLURM_LOCALID", who, 0, 1 << 20);
  if (const auto per_node = lookup(env, "SLURM_STEP_TASKS_PER_NODE")) {
    e.local_world_size = first_count("SLURM_STEP_TASKS_PER_NODE", *per_node);
  } else if (const auto ntpn = lookup(env, "SLURM_NTASKS_PER_NODE")) {
    e.local_world_size = first_count("SLURM_NTASKS_PER_NODE", *ntpn);
  } else {
    e.local_world_size = e.local_rank + 1;
  }
  if (const auto addr = lookup(env, "MASTER_ADDR")) {
    e.master_addr = *addr;
  } else if (const auto nodes = lookup(env, "SLURM_STEP_NODELIST")) {
    e.master_addr = first_slurm_node(*nodes);
  } else if (const auto job_nodes = lookup(env, "SLURM_JOB_NODELIST")) {
    e.master_addr = first_slurm_node(*job_nodes);
  } else {
    throw Error(who + " set no MASTER_ADDR, SLURM_STEP_NODELIST or SLURM_JOB_NODELIST: the host of "
                "rank 0 is unknown");
  }
  if (const auto port = lookup(env, "MASTER_PORT")) {
    e.master_port = static_cast<int>(parse_number("MASTER_PORT", *port, 1, 65535));
  } else {
    const auto job = lookup(env, "SLURM_JOB_ID");
    e.master_port = slurm_default_port(job ? parse_number("SLURM_JOB_ID", *job, 0, INT64_MAX) : 0);
  }
  check_rank(e);
  return e;
}

}  // namespace

std::string LaunchEnv::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local " +
         std::to_string(local_rank) + " of " + std::to_string(local_world_size) +
         "), rendezvous at " + master_addr + ":" + std::to_string(master_port) + ", started by " +
         launcher;
}

int slurm_default_port(int64_t job_id) { return 29500 + static_cast<int>(job_id % 1000); }

std::string first_slurm_node(const std::string& nodelist) {
  // The first entry ends at the first comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    const char c = nodelist[end];
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
  }
  const std::string entry = nodelist.substr(0, end);
  const size_t open = entry.find('[');
  if (entry.empty() || depth != 0 || (open == 0)) {
    throw Error("cannot read the Slurm node list '" + nodelist + "'");
  }
  if (open == std::string::npos) return entry;
  const size_t close = entry.find(']', open);
  if (close == std::string::npos || close + 1 != entry.size()) {
    throw Error("cannot read the Slurm node list '" + nodelist + "'");
  }
  // "03-05,7" -> "03": the first number keeps its zero padding.
  const std::string ranges = entry.substr(open + 1, close - open - 1);
  size_t digits = 0;
  while (digits < ranges.size() && std::isdigit(static_cast<unsigned char>(ranges[digits]))) ++digits;
  if (digits == 0) throw Error("cannot read the Slurm node list '" + nodelist + "'");
  return entry.substr(0, open) + ranges.substr(0, digits);
}

std::optional<LaunchEnv> launch_env_from(const std::map<std::string, std::string>& env) {
  if (auto e = torchrun_env(env)) return e;
  return slurm_env(env);
}

std::optional<LaunchEnv> launch_env_from_environment() {
  std::map<std::string, std::string> env;
  for (char** p = environ; p && *p; ++p) {
    const std::string entry(*p);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return launch_env_from(env);
}

}  // namespace kd
