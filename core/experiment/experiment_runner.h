#pragma once
// Runs an experiment into its run folder (docs/run-folders.md): every seed, the teacher target
// cache, the final students and result.json. The CLI and the desktop app both drive this.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distill/trainer.h"
#include "experiment/experiment_setup.h"

namespace kd {

class Communicator;

/// File names inside a run folder.
inline constexpr const char* kRunConfigFile = "config.json";      ///< the config as given
inline constexpr const char* kRunResolvedFile = "resolved.json";  ///< the config as resolved
inline constexpr const char* kStudentModelFile = "student.kdmodel";  ///< a seed's final zoo student
inline constexpr const char* kStudentScriptFile = "student.pt";  ///< a seed's final TorchScript student
inline constexpr const char* kRunResultFile = "result.json";

/// What a whole experiment achieved (result.json).
struct ExperimentResult {
  std::string run_dir;
  std::vector<SeedResult> seeds;
  double best_test_acc_mean = 0, best_test_acc_std = 0;  ///< over seeds; std with ddof 0
  double last_test_acc_mean = 0, last_test_acc_std = 0;
  bool complete = false;  ///< every seed trained all epochs
};

/// Mean and population standard deviation (numpy's default, ddof 0).
std::pair<double, double> mean_std(const std::vector<double>& values);

/// What to do when the experiment's folder exists already.
enum class ExistingRun {
  kFail,     ///< throw kd::Error naming the folder (and how to resume it)
  kResume,   ///< continue it (same as ExperimentRunner::open)
  kRestart,  ///< delete its contents and start again
};

/// An experiment bound to its run folder.
class ExperimentRunner {
 public:
  /// Prepares the experiment (opening data and models, choosing layers) and creates its folder
  /// <out_root>/<name>-<hash>, writing config.json (`given_text` verbatim, or the config's JSON
  /// when empty) and resolved.json.
  static std::unique_ptr<ExperimentRunner> create(const ExperimentConfig& config,
                                                  const std::string& given_text,
                                                  const std::string& out_root,
                                                  const PrepareOptions& options = {},
                                                  ExistingRun existing = ExistingRun::kFail,
                                                  ProgressSink* progress = nullptr);
  /// Reopens a run folder to continue it (or to read its result). Throws kd::Error when the
  /// folder is not a run folder or its files are damaged.
  static std::unique_ptr<ExperimentRunner> open(const std::string& run_dir,
                                                const PrepareOptions& options = {},
                                                ProgressSink* progress = nullptr);
  /// Data parallelism: every rank calls this. Rank 0 makes its runner with `make_on_rank0`
  /// (create() or open()) and sends the resolved config and the run folder to the others,
  /// which prepare the same experiment without writing anything. An error on rank 0 is
  /// raised on every rank. The runner trains with `comm` (rank 0 writes the run folder).
  static std::unique_ptr<ExperimentRunner> replicated(
      Communicator& comm, const std::function<std::unique_ptr<ExperimentRunner>()>& make_on_rank0,
      const PrepareOptions& options = {}, ProgressSink* progress = nullptr);
  ~ExperimentRunner();

  /// Trains every seed that is not finished (resuming from checkpoints), writes each seed's
  /// final student and result.json. Throws kd::Cancelled (the checkpoints stay), kd::Error.
  ExperimentResult run(TrainObserver* observer = nullptr);

  const std::string& run_dir() const { return run_dir_; }
  const PreparedExperiment& prepared() const { return *prepared_; }
  /// The trainer settings the resolved config maps to.
  TrainerSettings trainer_settings() const;
  /// Checks after every step that the ranks' parameters are identical (TrainerSettings).
  void set_check_replicas(bool on) { check_replicas_ = on; }

 private:
  ExperimentRunner(std::unique_ptr<PreparedExperiment> prepared, std::string run_dir);
  void write_result(const ExperimentResult& result, double seconds, double cache_seconds) const;

  std::unique_ptr<TeacherTargetCache> make_cache(const TrainerSettings& settings, TrainObserver* observer,
                                                 double& seconds) const;

  std::unique_ptr<PreparedExperiment> prepared_;
  std::string run_dir_;
  Communicator* comm_ = nullptr;  ///< several processes train together
  bool check_replicas_ = false;
};

/// The folder name of a resolved experiment: "<name or method>-<hash>".
std::string run_folder_name(const ExperimentConfig& resolved);

/// The seed's subfolder name ("seed-<seed>").
std::string seed_folder_name(uint64_t seed);

/// Reads result.json of a run folder; throws kd::Error when missing or malformed.
ExperimentResult read_result(const std::string& run_dir);

}  // namespace kd
