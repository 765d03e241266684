#include "distributed_train.h"

#include <torch/cuda.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "common/child_process.h"
#include "common/error.h"
#include "distributed/communicator.h"
#include "distributed/launch_env.h"
#include "distributed/local_launch.h"
#include "stop_signals.h"
#include "train_commands.h"
#include "train_progress.h"

namespace kd::cli {

namespace {

std::vector<std::string>& invocation() {
  static std::vector<std::string> args;
  return args;
}

/// The command line without --nproc (a rank must not start ranks itself).
std::vector<std::string> rank_command() {
  std::vector<std::string> out = {self_executable()};
  const auto& args = invocation();
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

/// The device of this rank: CUDA ranks take the GPU of their local rank.
std::string rank_device(const LaunchEnv& env, const std::string& requested) {
  const bool wants_cuda = requested.rfind("cuda", 0) == 0 ||
                          ((requested.empty() || requested == "auto") && torch::cuda::is_available());
  if (!wants_cuda) return "cpu";
  if (!torch::cuda::is_available()) throw Error("device '" + requested + "': CUDA is not available here");
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (env.local_rank >= gpus) {
    throw Error("local rank " + std::to_string(env.local_rank) + " has no GPU of its own: this node has " +
                std::to_string(gpus) + "; start at most " + std::to_string(gpus) + " ranks per node");
  }
  return "cuda:" + std::to_string(env.local_rank);
}

/// The other ranks' observer: silent, but Ctrl-C and SIGTERM stop them as they stop rank 0.
class RankStop final : public TrainObserver {
 public:
  bool cancelled() const override { return StopSignals::requested(); }

 private:
  StopSignals signals_;
};

}  // namespace

void add_parallel_options(CLI::App* command, ParallelOptions& o) {
  command->add_option("--nproc", o.nproc,
                      "Processes to train with on this machine, data-parallel (like torchrun "
                      "--standalone; default 1)")
      ->check(CLI::Range(1, 1024));
  command->add_option("--dist-timeout", o.timeout,
                      "Seconds a rank waits for the others (rendezvous and each exchange) before "
                      "it stops with an error (default 300)")
      ->check(CLI::Range(1, 86400));
  command->add_flag("--check-replicas", o.check_replicas,
                    "With several processes: check after every step that all ranks hold identical "
                    "parameters (a diagnostic; slower)");
}

std::string rank_prefix() {
  try {
    const auto env = launch_env_from_environment();
    return env && env->rank != 0 ? "rank " + std::to_string(env->rank) + ": " : "";
  } catch (const Error&) {
    return "";
  }
}

int default_rank_threads() {
  try {
    const auto env = launch_env_from_environment();
    if (!env) return 0;
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, cores / env->local_world_size);
  } catch (const Error&) {
    return 0;  // train reports the bad environment
  }
}

void remember_invocation(int argc, char** argv) {
  invocation().assign(argv, argv + argc);
}

std::optional<int> launch_local_ranks(const ParallelOptions& options) {
  if (options.nproc <= 1) return std::nullopt;
  if (launch_env_from_environment()) {
    throw Error("--nproc starts the ranks itself; under torchrun or srun, which start them, leave it out");
  }
  if (!distributed_available()) Communicator::join(LaunchEnv{}, {});  // throws: says what is missing
  LocalLaunchOptions launch;
  launch.processes = options.nproc;
  return run_local_ranks(rank_command(), launch, std::cerr);
}

bool train_as_rank(const ParallelOptions& options, const std::string& device, const MakeRunner& make,
                   PrepareOptions prepare) {
  const std::optional<LaunchEnv> env = launch_env_from_environment();
  if (!env) return false;
  prepare.device = rank_device(*env, device);
  CommunicatorOptions comm_options;
  comm_options.timeout = std::chrono::seconds(options.timeout);
  comm_options.device = *prepare.device;
  const bool root = env->rank == 0;
  if (root) std::cerr << "distributed: " << env->describe() << "\n";
  std::unique_ptr<Communicator> comm = Communicator::join(*env, comm_options);
  if (root) {
    std::cerr << "distributed: " << env->world_size << " ranks joined; " << comm->backend()
              << " for the tensors; global batch split " << env->world_size << " ways\n";
  }
  std::unique_ptr<ExperimentRunner> runner = ExperimentRunner::replicated(*comm, [&] { return make(prepare); }, prepare);
  runner->set_check_replicas(options.check_replicas);
  if (!root) {
    RankStop stop;
    runner->run(&stop);
    return true;
  }
  print_plan(*runner);
  std::cout << "Processes:  " << env->world_size << " (" << comm->backend() << ", " << env->launcher << ")" << std::endl;
  TrainProgress progress;
  try {
    print_result(runner->run(&progress));
  } catch (const Cancelled&) {
    std::cerr << "\nstopped; continue with: kdstudio-cli resume " << runner->run_dir() << " (with any number of processes)\n";
    throw;
  } catch (const RankFailure& e) {
    throw Error(std::string(e.what()) + "\nThe run folder keeps the checkpoint of the last finished epoch; continue with: "
                "kdstudio-cli resume " + runner->run_dir() + " (with any number of processes)");
  }
  return true;
}

}  // namespace kd::cli
