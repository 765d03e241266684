#include "experiment/experiment_runner.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/allocator.h"
#include "common/error.h"
#include "io/text_file.h"
#include "common/version.h"
#include "deploy/student_export.h"
#include "distributed/communicator.h"
#include "io/atomic_file.h"
#include "models/model_file.h"
#include "models/scripted_model.h"
#include "models/zoo/zoo_model.h"

namespace kd {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kResultFormat = "kdstudio-result";
/// How long the other ranks wait for rank 0 to prepare an experiment (data, models, a layer
/// analysis that may take hours on a large teacher).
constexpr std::chrono::seconds kPreparePatience{48 * 3600};
/// Share of physical memory the teacher target cache may take before it goes to disk.
constexpr double kCacheMemoryShare = 0.4;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

int64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : (int64_t{8} << 30);
}

/// Forwards the cache's progress to the observer as a stage.
class StageProgress final : public ProgressSink {
 public:
  explicit StageProgress(TrainObserver* observer) : observer_(observer) {}
  void progress(double fraction, const std::string& message) override {
    if (observer_) observer_->on_stage(message, fraction);
  }
  bool cancelled() const override { return observer_ && observer_->cancelled(); }

 private:
  TrainObserver* observer_;
};

json seed_json(const SeedResult& s) {
  return json{{"seed", s.seed},
              {"epochs", s.epochs_done},
              {"best_test_acc", s.best_test_acc},
              {"best_epoch", s.best_epoch},
              {"last_test_acc", s.last_test_acc},
              {"seconds", s.seconds}};
}

}  // namespace

std::pair<double, double> mean_std(const std::vector<double>& values) {
  if (values.empty()) return {0, 0};
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  return {mean, std::sqrt(var / static_cast<double>(values.size()))};
}

std::string run_folder_name(const ExperimentConfig& resolved) {
  const std::string label = resolved.name.empty() ? method_name(resolved.method) : resolved.name;
  return safe_file_name(label, "run") + "-" + experiment_hash(resolved);
}

std::string seed_folder_name(uint64_t seed) { return "seed-" + std::to_string(seed); }

ExperimentRunner::ExperimentRunner(std::unique_ptr<PreparedExperiment> prepared, std::string run_dir)
    : prepared_(std::move(prepared)), run_dir_(std::move(run_dir)) {}

ExperimentRunner::~ExperimentRunner() = default;

/// Removes the temporaries of atomic writes ("<file>.tmp-XXXXXX") that a killed process left in
/// the run folder and its seed folders: they never hold a committed file, and they can be large.
static void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  const auto is_temporary = [](const fs::path& p) {
    const std::string name = p.filename().string();
    const auto at = name.rfind(".tmp-");
    return at != std::string::npos && at > 0 && name.size() == at + 11;
  };
  for (fs::recursive_directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() >= 1) it.disable_recursion_pending();
    std::error_code fec;
    if (it->is_regular_file(fec) && is_temporary(it->path())) fs::remove(it->path(), fec);
  }
}

std::unique_ptr<ExperimentRunner> ExperimentRunner::create(const ExperimentConfig& config,
                                                           const std::string& given_text,
                                                           const std::string& out_root,
                                                           const PrepareOptions& options,
                                                           ExistingRun existing,
                                                           ProgressSink* progress) {
  auto prepared = std::make_unique<PreparedExperiment>(prepare_experiment(config, options, progress));
  const std::string dir = (fs::path(out_root) / run_folder_name(prepared->resolved)).string();
  if (fs::exists(fs::path(dir) / kRunResolvedFile)) {
    switch (existing) {
      case ExistingRun::kResume:
        return open(dir, options, progress);
      case ExistingRun::kRestart:
        fs::remove_all(dir);
        break;
      case ExistingRun::kFail: {
        bool complete = false;
        try {
          complete = read_result(dir).complete;
        } catch (const Error&) {
        }
        throw Error(complete ? "this experiment has been run already: " + dir +
                                   " (see its result.json; pass --restart to run it again)"
                             : "an unfinished run of this experiment exists: " + dir +
                                   "; continue it with 'kdstudio-cli resume " + dir +
                                   "' or pass --restart");
      }
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create the run folder " + dir + ": " + ec.message());
  remove_stale_temporaries(dir);  // of a start that was killed before resolved.json existed
  write_file_atomically(dir + "/" + kRunConfigFile,
                        given_text.empty() ? experiment_to_json(config) + "\n" : given_text);
  write_file_atomically(dir + "/" + kRunResolvedFile, experiment_to_json(prepared->resolved));
  return std::unique_ptr<ExperimentRunner>(new ExperimentRunner(std::move(prepared), dir));
}

std::unique_ptr<ExperimentRunner> ExperimentRunner::open(const std::string& run_dir,
                                                         const PrepareOptions& options,
                                                         ProgressSink* progress) {
  const std::string resolved_path = run_dir + "/" + kRunResolvedFile;
  if (!fs::exists(resolved_path)) {
    throw Error(run_dir + " is not a KD Studio run folder (it has no " + kRunResolvedFile + ")");
  }
  remove_stale_temporaries(run_dir);
  const ExperimentConfig resolved = experiment_from_json(read_text(resolved_path), resolved_path);
  auto prepared = std::make_unique<PreparedExperiment>(prepare_experiment(resolved, options, progress));
  return std::unique_ptr<ExperimentRunner>(new ExperimentRunner(std::move(prepared), run_dir));
}

std::unique_ptr<ExperimentRunner> ExperimentRunner::replicated(
    Communicator& comm, const std::function<std::unique_ptr<ExperimentRunner>()>& make_on_rank0,
    const PrepareOptions& options, ProgressSink* progress) {
  std::unique_ptr<ExperimentRunner> runner;
  json message;
  if (comm.rank() == 0) {
    try {
      runner = make_on_rank0();
      message = {{"resolved", experiment_to_json(runner->prepared().resolved)}, {"run_dir", runner->run_dir()}};
    } catch (const Cancelled&) {
      message = {{"error", "cancelled"}};
      comm.share_text(message.dump(), kPreparePatience, 0);
      throw;
    } catch (const std::exception& e) {
      message = {{"error", e.what()}};
      comm.share_text(message.dump(), kPreparePatience, 0);
      throw;
    }
    comm.share_text(message.dump(), kPreparePatience, 0);
  } else {
    message = json::parse(comm.share_text("", kPreparePatience, 0));
    if (message.contains("error")) {
      throw Error("rank 0 could not start the experiment: " + message.at("error").get<std::string>());
    }
    const ExperimentConfig resolved =
        experiment_from_json(message.at("resolved").get<std::string>(), "rank 0's resolved.json");
    auto prepared = std::make_unique<PreparedExperiment>(prepare_experiment(resolved, options, progress));
    runner.reset(new ExperimentRunner(std::move(prepared), message.at("run_dir").get<std::string>()));
  }
  runner->comm_ = &comm;
  return runner;
}

TrainerSettings ExperimentRunner::trainer_settings() const {
  const ExperimentConfig& c = prepared_->resolved;
  TrainerSettings s;
  s.objective.method = c.method;
  if (c.teacher_layers) s.objective.teacher_layers = c.teacher_layers->indices;
  if (c.student_layers) s.objective.student_layers = c.student_layers->indices;
  s.objective.projector = c.projector;
  s.objective.temperature = c.temperature;
  s.objective.ce_weight = c.ce_weight;
  s.objective.kd_weight = c.kd_weight;
  s.objective.feature_weight = c.feature_weight;
  s.optimizer = c.optimizer;
  s.lr = c.lr.value_or(default_lr(prepared_->student_architecture, c.optimizer));
  s.weight_decay = c.weight_decay.value_or(0.01);
  s.momentum = c.momentum;
  s.schedule = c.schedule;
  s.pct_start = c.pct_start;
  s.milestones = c.milestones;
  s.gamma = c.gamma;
  s.epochs = c.epochs;
  s.batch_size = c.batch_size;
  s.augment = c.augment;
  s.log_every = c.log_every;
  s.mixed_precision = c.mixed_precision;
  s.cuda_graphs = c.cuda_graphs;
  s.check_replicas = check_replicas_;
  s.tracking.enabled = c.track_geometry;
  s.tracking.every_steps = c.geometry_every;
  s.tracking.per_class = c.geometry_per_class;
  s.tracking.seed = c.analysis_seed;
  s.tracking.class_names = prepared_->data.class_names;
  return s;
}

ExperimentResult ExperimentRunner::run(TrainObserver* observer) {
  // The memory the run freed goes back to the system when it ends, however it ends.
  struct ReleaseFreeMemory {
    ~ReleaseFreeMemory() { release_free_memory(); }
  } release;
  const auto start = Clock::now();
  PreparedExperiment& p = *prepared_;
  const ExperimentConfig& c = p.resolved;
  const TrainerSettings settings = trainer_settings();
  const torch::Device device(p.device);
  TrainData data;
  data.train = &p.data.train;
  data.test = &p.data.test;
  data.stats = p.stats;
  data.train_indices = p.train_indices;
  data.test_indices = p.test_indices;
  for (const auto& note : p.notes) {
    if (observer) observer->on_note(note);
  }

  // The frozen teacher's targets, once for all seeds, when they are fixed per sample.
  double cache_seconds = 0;
  const std::unique_ptr<TeacherTargetCache> cache = make_cache(settings, observer, cache_seconds);
  LayeredModel* teacher = p.teacher.model.get();

  ExperimentResult result;
  result.run_dir = run_dir_;
  for (int i = 0; i < c.seeds; ++i) {
    const uint64_t seed = c.seed + static_cast<uint64_t>(i);
    const std::string seed_dir = run_dir_ + "/" + seed_folder_name(seed);
    if (observer) observer->on_seed(i, c.seeds, seed);
    std::unique_ptr<LayeredModel> student = build_student(p, seed);
    std::unique_ptr<LayeredModel> tail =
        c.method == Method::kSimKD ? copy_teacher(p) : std::unique_ptr<LayeredModel>{};
    SeedTrainer trainer(settings, data, *student, teacher, std::move(tail), cache.get(), device,
                        seed, seed_dir, comm_);
    result.seeds.push_back(trainer.run(observer));
    student->to(torch::kCPU);
    result.complete = i + 1 == c.seeds;
    std::vector<double> best, last;
    for (const auto& s : result.seeds) {
      best.push_back(s.best_test_acc);
      last.push_back(s.last_test_acc);
    }
    std::tie(result.best_test_acc_mean, result.best_test_acc_std) = mean_std(best);
    std::tie(result.last_test_acc_mean, result.last_test_acc_std) = mean_std(last);
    if (comm_ && comm_->rank() != 0) continue;  // rank 0 writes the run folder
    const SeedResult& seed_result = result.seeds.back();
    // What deploying the student needs (preprocessing, labels, provenance) travels with it.
    const std::map<std::string, std::string> deploy =
        make_deploy_info(*student, p.stats, p.data.class_names, p.data.name, method_name(c.method), run_dir_,
                         seed_result.last_test_acc)
            .to_metadata();
    std::map<std::string, std::string> meta = {
        {"test_accuracy", std::to_string(seed_result.last_test_acc)},
        {"best_test_accuracy", std::to_string(seed_result.best_test_acc)},
        {"dataset", p.data.name},
        {"method", method_name(c.method)},
        {"seed", std::to_string(seed)}};
    meta.insert(deploy.begin(), deploy.end());
    if (auto* zoo_student = dynamic_cast<zoo::ZooModel*>(student.get())) {
      save_zoo_model(*zoo_student, seed_dir + "/" + kStudentModelFile, meta);
    } else if (auto* scripted = dynamic_cast<ScriptedModel*>(student.get())) {
      scripted->save_torchscript(seed_dir + "/" + kStudentScriptFile, deploy);
    }
    write_result(result, std::chrono::duration<double>(Clock::now() - start).count(), cache_seconds);
  }
  return result;
}

std::unique_ptr<TeacherTargetCache> ExperimentRunner::make_cache(const TrainerSettings& settings,
                                                                 TrainObserver* observer,
                                                                 double& seconds) const {
  const PreparedExperiment& p = *prepared_;
  const ExperimentConfig& c = p.resolved;
  LayeredModel* teacher = p.teacher.model.get();
  if (!teacher || c.augment || c.teacher_cache == "off") return nullptr;
  auto probe_student = build_student(p, c.seed);
  const TeacherRequest request = DistillObjective::request_for(settings.objective, *probe_student);
  if (request.empty()) return nullptr;
  CacheOptions options;
  options.fp16 = c.cache_fp16;
  options.device = p.device;
  options.disk_dir = run_dir_;
  if (comm_) {  // each rank computes its share of the rows, then they are exchanged
    options.shard_rank = comm_->rank();
    options.shard_count = comm_->world_size();
    if (comm_->rank() != 0) options.disk_dir = fs::temp_directory_path().string();
  }
  const int64_t rows = static_cast<int64_t>(p.train_indices.size());
  const int64_t bytes = TeacherTargetCache::bytes_per_sample(*teacher, request, c.cache_fp16) * rows;
  const bool to_disk = c.teacher_cache == "disk" ||
                       (c.teacher_cache == "auto" &&
                        static_cast<double>(bytes) > kCacheMemoryShare * static_cast<double>(physical_memory()));
  options.storage = to_disk ? CacheStorage::kDisk : CacheStorage::kMemory;
  const auto t0 = Clock::now();
  StageProgress stage(observer);
  auto cache = std::make_unique<TeacherTargetCache>(*teacher, request, p.data.train, p.stats, p.train_indices,
                                                    options, &stage);
  if (comm_) {
    for (int r = 0; r < comm_->world_size(); ++r) {
      const auto [first, last] = TeacherTargetCache::shard_rows(rows, r, comm_->world_size());
      if (last == first) continue;
      for (const torch::Tensor& store : cache->stores()) {
        torch::Tensor block = store.narrow(0, first, last - first);
        comm_->broadcast(block, r);
      }
    }
  }
  seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (observer) {
    observer->on_note("teacher targets cached " + std::string(to_disk ? "on disk" : "in memory") + " (" +
                      std::to_string((cache->bytes() + (1 << 20) - 1) >> 20) + " MiB" +
                      (comm_ ? ", computed in " + std::to_string(comm_->world_size()) + " shards" : "") + ")");
  }
  return cache;
}

void ExperimentRunner::write_result(const ExperimentResult& r, double seconds,
                                    double cache_seconds) const {
  const PreparedExperiment& p = *prepared_;
  json seeds = json::array();
  for (const auto& s : r.seeds) seeds.push_back(seed_json(s));
  json j = {{"format", kResultFormat},
            {"name", p.resolved.name},
            {"method", method_name(p.resolved.method)},
            {"config_hash", experiment_hash(p.resolved)},
            {"dataset", p.data.name},
            {"teacher", p.resolved.teacher},
            {"student", p.resolved.student},
            {"teacher_layers", p.resolved.teacher_layers ? p.resolved.teacher_layers->indices : std::vector<int>{}},
            {"student_layers", p.resolved.student_layers ? p.resolved.student_layers->indices : std::vector<int>{}},
            {"complete", r.complete},
            {"seeds", seeds},
            {"best_test_acc_mean", r.best_test_acc_mean},
            {"best_test_acc_std", r.best_test_acc_std},
            {"last_test_acc_mean", r.last_test_acc_mean},
            {"last_test_acc_std", r.last_test_acc_std},
            {"device", p.device},
            {"processes", comm_ ? comm_->world_size() : 1},
            {"device_description", p.device_description},
            {"timings", {{"total_seconds", seconds},
                         {"teacher_cache_seconds", cache_seconds},
                         {"analysis_seconds", p.analysis_seconds}}},
            {"versions", {{"kdstudio", version()}, {"libraries", library_versions()}}},
            {"notes", p.notes}};
  const auto acc = p.teacher.metadata.find("test_accuracy");
  if (acc != p.teacher.metadata.end()) {
    try {
      j["teacher_test_acc"] = std::stod(acc->second);
    } catch (const std::exception&) {
      // A teacher file with a malformed accuracy entry: leave it out.
    }
  }
  write_file_atomically(run_dir_ + "/" + kRunResultFile, j.dump(2) + "\n");
}

ExperimentResult read_result(const std::string& run_dir) {
  const std::string path = run_dir + "/" + kRunResultFile;
  if (!fs::exists(path)) throw Error(run_dir + " has no " + kRunResultFile + " (has it finished a seed?)");
  try {
    const json j = json::parse(read_text(path));
    if (j.value("format", "") != kResultFormat) throw Error(path + " is not a KD Studio result file");
    ExperimentResult r;
    r.run_dir = run_dir;
    r.complete = j.at("complete").get<bool>();
    for (const auto& s : j.at("seeds")) {
      SeedResult sr;
      sr.seed = s.at("seed").get<uint64_t>();
      sr.epochs_done = s.at("epochs").get<int>();
      sr.best_test_acc = s.at("best_test_acc").get<double>();
      sr.best_epoch = s.at("best_epoch").get<int>();
      sr.last_test_acc = s.at("last_test_acc").get<double>();
      sr.seconds = s.at("seconds").get<double>();
      r.seeds.push_back(sr);
    }
    r.best_test_acc_mean = j.at("best_test_acc_mean").get<double>();
    r.best_test_acc_std = j.at("best_test_acc_std").get<double>();
    r.last_test_acc_mean = j.at("last_test_acc_mean").get<double>();
    r.last_test_acc_std = j.at("last_test_acc_std").get<double>();
    return r;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path + " is damaged: " + e.what());
  }
}

}  // namespace kd
