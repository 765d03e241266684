#pragma once
// Reading a folder of run folders (docs/run-folders.md) back for browsing: one summary per run,
// a seed's epoch history, and the per-epoch metrics as CSV. Read-only; a damaged run is
// reported in its summary, never thrown, so one bad folder cannot hide the others.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "distill/trainer.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"

namespace kd {

/// File name of a seed's per-epoch metrics.
inline constexpr const char* kEpochsFile = "epochs.jsonl";

/// What a run folder holds, as far as it could be read.
struct RunSummary {
  std::string run_dir;  ///< the folder (as found under the root)
  std::string folder;   ///< its name, "<label>-<hash>"
  std::string name;     ///< the experiment's name, or the folder name when it has none
  std::string method, teacher, student, dataset;    ///< dataset: result.json's name, else the spec
  std::vector<int> teacher_layers, student_layers;  ///< empty for methods without layers
  int epochs_planned = 0, epochs_done = 0;          ///< epochs_done: the minimum over planned seeds
  std::vector<int> seed_epochs;  ///< epochs in epochs.jsonl of each planned seed (0 if none)
  int seeds_planned = 0, seeds_done = 0;  ///< seeds_done: finished seeds in result.json
  std::optional<double> best_mean, best_std, last_mean, last_std;  ///< percent; with a result
  bool complete = false;      ///< result.json says every seed trained all epochs
  int64_t modified_unix = 0;  ///< latest modification time of any file in the folder
  /// "complete", "partial: 2/3 seeds" (", epoch 4/6 of seed 2" while a seed is under way),
  /// "not started", or "damaged: <reason>".
  std::string status;
  std::optional<ExperimentConfig> config;  ///< resolved.json (else config.json) when readable
  std::optional<ExperimentResult> result;  ///< result.json when readable
  std::string device;  ///< result.json's device description, else the resolved device
  std::optional<double> teacher_test_acc;  ///< from result.json, when the teacher records it

  /// True when the status starts with "damaged".
  bool damaged() const { return status.rfind("damaged", 0) == 0; }
};

/// Summaries of every immediate subfolder of `root` that holds a config.json (other folders
/// are skipped), newest first. A damaged run is listed with status "damaged: <reason>" and what
/// could be read; throws kd::Error only when `root` is not a readable folder.
std::vector<RunSummary> list_runs(const std::string& root);

/// The summary of one run folder (what list_runs gives for it); never throws for a damaged run.
RunSummary summarize_run(const std::string& run_dir);

/// The epoch history of a seed folder from its epochs.jsonl, in file order; empty when the file
/// does not exist yet. A torn last line (a killed writer) is ignored; a damaged line before it
/// throws kd::Error naming the file and line.
std::vector<EpochReport> read_epoch_history(const std::string& seed_dir);

/// The seed folders ("seed-<N>") of a run folder, full paths, sorted by seed number.
std::vector<std::string> seed_dirs(const std::string& run_dir);

/// The seed number of a seed folder's path ("…/seed-3" -> 3); throws kd::Error otherwise.
uint64_t seed_of_dir(const std::string& seed_dir);

/// The per-epoch metrics of every seed of a run as CSV: the header
/// `seed,epoch,train_loss,<each loss component>,train_acc,test_acc,test_loss,lr,seconds` and a
/// row per seed and epoch. `epoch` is 1-based here (epochs.jsonl's is 0-based), as users count
/// epochs; loss components are the union over seeds in order of appearance (an empty cell where
/// a seed lacks one); numbers are written in the shortest form that reads back to the same
/// double. Throws kd::Error when the folder or a metrics file cannot be read.
std::string epochs_csv(const std::string& run_dir);

}  // namespace kd
