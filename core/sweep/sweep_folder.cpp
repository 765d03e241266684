#include "sweep/sweep_folder.h"

#include <unistd.h>

#include <c10/util/Exception.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/atomic_file.h"
#include "io/content_hash.h"
#include "io/text_file.h"

namespace kd {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

/// Format marker of points.json.
constexpr const char* kPointsFormat = "kdstudio-sweep-points";

std::string points_hash(const Sweep& sweep) {
  ContentHash hash;
  for (const SweepPoint& p : sweep.points) hash.add(p.config_json);
  return hash.hex();
}

std::string point_folder_name(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "point-%04d", index);
  return name;
}

std::string this_host() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// The Slurm job running this process ("77_3" for an array task), or "".
std::string slurm_job() {
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array_job && task) return std::string(array_job) + "_" + task;
  const char* job = std::getenv("SLURM_JOB_ID");
  return job ? job : "";
}

json points_json(const Sweep& sweep) {
  json out;
  out["format"] = kPointsFormat;
  out["version"] = kSweepVersion;
  out["name"] = sweep.name;
  out["points_hash"] = points_hash(sweep);
  out["axes"] = sweep.axis_keys;
  json points = json::array();
  for (const SweepPoint& p : sweep.points) {
    json settings = json::object();
    for (const SweepSetting& s : p.settings) settings[s.key] = json::parse(s.value);
    points.push_back({{"index", p.index}, {"label", p.label}, {"group", p.group},
                      {"settings", settings}});
  }
  out["points"] = points;
  return out;
}

json read_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": damaged (not valid JSON: " + std::string(e.what()) + ")");
  }
}

/// The run folder inside a point's folder (the newest when there are several), or "".
std::string find_run_dir(const std::string& point_dir) {
  std::error_code ec;
  std::string found;
  fs::file_time_type newest{};
  for (fs::directory_iterator it(point_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (!it->is_directory(fec) || !fs::exists(it->path() / kRunConfigFile, fec)) continue;
    const auto t = fs::last_write_time(it->path(), fec);
    if (found.empty() || t > newest) found = it->path().string(), newest = t;
  }
  return found;
}

/// Whether a running.json names a live process. Another host's process cannot be checked from
/// here: it is taken as running (the scheduler's view, when there is one, is added by callers).
bool marker_alive(const json& marker, std::string& who) {
  const std::string host = marker.value("host", std::string("unknown"));
  const int64_t pid = marker.value("pid", int64_t{0});
  const std::string job = marker.value("slurm_job", std::string());
  who = (job.empty() ? "" : "Slurm job " + job + ", ") + "pid " + std::to_string(pid) + " on " +
        host + " since " + marker.value("started", std::string("?"));
  if (host != this_host()) return true;
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

/// Removes running.json when it is this process's, however the run ends.
class RunningMarker {
 public:
  explicit RunningMarker(std::string path) : path_(std::move(path)) {
    json marker = {{"pid", static_cast<int64_t>(::getpid())}, {"host", this_host()},
                   {"started", now_text()}};
    if (const std::string job = slurm_job(); !job.empty()) marker["slurm_job"] = job;
    write_file_atomically(path_, marker.dump(2) + "\n");
  }
  ~RunningMarker() {
    try {
      if (read_json_file(path_).value("pid", int64_t{0}) == ::getpid()) {
        std::error_code ec;
        fs::remove(path_, ec);
      }
    } catch (...) {  // gone already: nothing to clean up
    }
  }
  RunningMarker(const RunningMarker&) = delete;
  RunningMarker& operator=(const RunningMarker&) = delete;

 private:
  std::string path_;
};

void record_failure(const std::string& point_dir, const std::string& message) {
  const json failure = {{"error", message}, {"host", this_host()}, {"time", now_text()}};
  try {
    write_file_atomically(point_dir + "/" + kPointFailedFile, failure.dump(2) + "\n");
  } catch (const std::exception&) {  // the original error matters more than this record
  }
}

void write_new_folder(const Sweep& sweep, const std::string& sweep_text, const fs::path& stage) {
  fs::create_directories(stage);
  write_file_atomically((stage / kSweepFile).string(), sweep_text);
  for (const SweepPoint& p : sweep.points) {
    const fs::path dir = stage / point_folder_name(p.index);
    fs::create_directory(dir);
    write_file_atomically((dir / kPointExperimentFile).string(), p.config_json);
  }
  // Last: points.json marks a complete sweep folder.
  write_file_atomically((stage / kSweepPointsFile).string(), points_json(sweep).dump(2) + "\n");
}

}  // namespace

const char* point_state_name(PointState state) {
  switch (state) {
    case PointState::kPending: return "pending";
    case PointState::kRunning: return "running";
    case PointState::kInterrupted: return "interrupted";
    case PointState::kDone: return "done";
    case PointState::kFailed: return "failed";
  }
  return "?";
}

int SweepStatus::count(PointState state) const {
  int n = 0;
  for (const auto& p : points) n += p.state == state;
  return n;
}

bool is_sweep_folder(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kSweepPointsFile, ec);
}

SweepFolder SweepFolder::create(const Sweep& sweep, const std::string& sweep_text,
                                const std::string& out_root) {
  const fs::path dir = fs::path(out_root) / safe_file_name(sweep.name, "sweep");
  std::error_code ec;
  if (is_sweep_folder(dir.string())) {
    SweepFolder existing = open(dir.string());
    const json points = read_json_file((dir / kSweepPointsFile).string());
    if (points.value("points_hash", std::string()) == points_hash(sweep)) return existing;
    throw Error(dir.string() + " holds another sweep ('" + existing.name() + "', " +
                std::to_string(existing.size()) + " points, from a different sweep file): give "
                "this sweep another \"name\" or --out, or delete that folder first");
  }
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    throw Error(dir.string() + " exists and is not a sweep folder: give the sweep another "
                "\"name\" or --out");
  }
  fs::create_directories(out_root, ec);
  if (ec) throw Error("cannot create the folder " + out_root + ": " + ec.message());
  const fs::path stage = fs::path(out_root) / ("." + dir.filename().string() + ".tmp-" +
                                               std::to_string(::getpid()));
  try {
    fs::remove_all(stage, ec);
    write_new_folder(sweep, sweep_text, stage);
    fs::rename(stage, dir);  // also replaces an empty folder of that name
  } catch (const std::exception& e) {
    fs::remove_all(stage, ec);
    const auto* error = dynamic_cast<const Error*>(&e);
    throw Error(error ? std::string(e.what())
                      : "cannot write the sweep folder " + dir.string() + ": " + e.what());
  }
  return open(dir.string());
}

SweepFolder SweepFolder::open(const std::string& dir) {
  const std::string path = (fs::path(dir) / kSweepPointsFile).string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": no such sweep folder");
  if (!fs::exists(path, ec)) {
    throw Error(dir + " is not a sweep folder (it has no " + std::string(kSweepPointsFile) +
                "; 'kdstudio-cli sweep run SWEEP.json' makes one)");
  }
  const json root = read_json_file(path);
  std::vector<PointInfo> points;
  try {
    if (root.at("format").get<std::string>() != kPointsFormat) throw Error("wrong format");
    for (const json& p : root.at("points")) {
      PointInfo info{p.at("index").get<int>(), p.at("label").get<std::string>(),
                     p.at("group").get<std::string>(), {}};
      for (const auto& [key, value] : p.at("settings").items()) info.settings.push_back({key, value.dump()});
      if (info.index != static_cast<int>(points.size())) throw Error("points out of order");
      points.push_back(std::move(info));
    }
    return SweepFolder(dir, root.at("name").get<std::string>(), std::move(points));
  } catch (const std::exception& e) {
    throw Error(path + ": damaged (" + e.what() + ")");
  }
}

std::string SweepFolder::point_dir(int index) const {
  if (index < 0 || index >= size()) {
    throw Error("the sweep " + dir_ + " has points 0 to " + std::to_string(size() - 1) +
                "; there is no point " + std::to_string(index));
  }
  return (fs::path(dir_) / point_folder_name(index)).string();
}

PointStatus SweepFolder::point_status(int index) const {
  PointStatus s;
  const std::string pdir = point_dir(index);
  s.point = points_[static_cast<size_t>(index)];
  std::error_code ec;
  try {
    if (fs::exists(fs::path(pdir) / kPointRunningFile, ec)) {
      const json marker = read_json_file(pdir + "/" + kPointRunningFile);
      if (marker_alive(marker, s.detail)) s.state = PointState::kRunning;
    }
  } catch (const std::exception&) {  // torn marker of a killed process: not running
  }
  s.run_dir = find_run_dir(pdir);
  if (!s.run_dir.empty()) s.run = summarize_run(s.run_dir);
  if (s.state == PointState::kRunning) return s;
  s.detail.clear();
  if (s.run && s.run->complete) {
    s.state = PointState::kDone;
  } else if (fs::exists(fs::path(pdir) / kPointFailedFile, ec)) {
    s.state = PointState::kFailed;
    try {
      s.detail = read_json_file(pdir + "/" + kPointFailedFile).value("error", std::string("?"));
    } catch (const std::exception& e) {
      s.detail = e.what();
    }
  } else if (s.run) {
    s.state = s.run->damaged() ? PointState::kFailed : PointState::kInterrupted;
    s.detail = s.run->status;
  }
  return s;
}

SweepStatus SweepFolder::status() const {
  SweepStatus s{dir_, name_, {}};
  for (int i = 0; i < size(); ++i) s.points.push_back(point_status(i));
  return s;
}

SweepFolder open_or_create_sweep(const std::string& what, const std::string& out_root) {
  std::error_code ec;
  if (fs::is_directory(what, ec)) return SweepFolder::open(what);
  return SweepFolder::create(load_sweep_file(what), read_text_file(what), out_root);
}

ExperimentResult run_sweep_point(
    const SweepFolder& folder, int index, const PrepareOptions& options, TrainObserver* observer,
    ProgressSink* prepare_progress,
    const std::function<void(const ExperimentRunner&)>& before_training) {
  const std::string pdir = folder.point_dir(index);
  const std::string marker_path = pdir + "/" + kPointRunningFile;
  std::error_code ec;
  if (fs::exists(marker_path, ec)) {
    std::string who;
    bool alive = false;
    try {
      const json marker = read_json_file(marker_path);
      alive = marker.value("host", std::string()) == this_host() && marker_alive(marker, who);
    } catch (const std::exception&) {
    }
    if (alive) throw Error("point " + std::to_string(index) + " of " + folder.dir() + " is being run already (" + who + ")");
  }
  RunningMarker marker(marker_path);
  fs::remove(fs::path(pdir) / kPointFailedFile, ec);
  try {
    const std::string experiment_path = pdir + "/" + kPointExperimentFile;
    const std::string text = read_text_file(experiment_path);
    const std::string run_dir = find_run_dir(pdir);
    std::unique_ptr<ExperimentRunner> runner;
    if (!run_dir.empty() && fs::exists(fs::path(run_dir) / kRunResolvedFile, ec)) {
      runner = ExperimentRunner::open(run_dir, options, prepare_progress);
    } else {
      runner = ExperimentRunner::create(experiment_from_json(text, experiment_path), text, pdir,
                                        options, ExistingRun::kResume, prepare_progress);
    }
    throw_if_cancelled(prepare_progress);
    if (before_training) before_training(*runner);
    return runner->run(observer);
  } catch (const Cancelled&) {
    throw;
  } catch (const c10::Error& e) {
    record_failure(pdir, e.what_without_backtrace());
    throw;
  } catch (const std::exception& e) {
    record_failure(pdir, e.what());
    throw;
  }
}

}  // namespace kd
