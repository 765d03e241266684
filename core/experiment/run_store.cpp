#include "experiment/run_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "distill/method.h"

namespace kd {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kSeedPrefix = "seed-";

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path.string() + ": cannot read the file");
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) throw Error(path.string() + ": cannot read the file");
  return s.str();
}

/// An experiment file of either kind (as load_experiment_file), with `origin` in messages.
ExperimentConfig read_config(const fs::path& path, const std::string& origin) {
  const std::string text = read_text(path);
  if (is_paper_config(text)) return import_paper_config(text, origin).config;
  return experiment_from_json(text, origin);
}

/// `message` without a leading "<run_dir>/" (messages in a summary are about its own files).
std::string relative_message(const std::string& message, const std::string& run_dir) {
  const std::string prefix = run_dir + "/";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

int64_t to_unix(fs::file_time_type t) {
  const auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
}

/// The newest modification time of the folder and every file under it. Files may vanish while
/// we look (atomic writes rename temporaries), so errors only skip entries.
int64_t latest_mtime(const fs::path& dir) {
  std::error_code ec;
  int64_t latest = 0;
  const auto own = fs::last_write_time(dir, ec);
  if (!ec) latest = to_unix(own);
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;
    const auto t = it->last_write_time(fec);
    if (!fec) latest = std::max(latest, to_unix(t));
  }
  return latest;
}

/// The planned epochs from the run folder's resolved.json, or 0 when it cannot be read.
int planned_epochs(const fs::path& run_dir) {
  try {
    return read_config(run_dir / kRunResolvedFile, kRunResolvedFile).epochs;
  } catch (const std::exception&) {
    return 0;
  }
}

/// The fields of result.json that ExperimentResult does not carry.
void read_result_extras(const fs::path& path, RunSummary& s) {
  const json j = json::parse(read_text(path));
  const auto text = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  if (!text("dataset").empty()) s.dataset = text("dataset");
  s.device = !text("device_description").empty() ? text("device_description") : text("device");
  if (j.contains("teacher_test_acc") && j["teacher_test_acc"].is_number()) {
    s.teacher_test_acc = j["teacher_test_acc"].get<double>();
  }
  if (s.config) return;  // the rest comes from the experiment when it could be read
  if (!text("name").empty()) s.name = text("name");
  s.method = text("method");
  s.teacher = text("teacher");
  s.student = text("student");
  if (j.contains("teacher_layers")) s.teacher_layers = j["teacher_layers"].get<std::vector<int>>();
  if (j.contains("student_layers")) s.student_layers = j["student_layers"].get<std::vector<int>>();
}

void fill_from_config(const ExperimentConfig& c, RunSummary& s) {
  if (!c.name.empty()) s.name = c.name;
  s.method = method_name(c.method);
  s.teacher = c.teacher;
  s.student = c.student;
  s.dataset = c.dataset;
  if (c.teacher_layers) s.teacher_layers = c.teacher_layers->indices;
  if (c.student_layers) s.student_layers = c.student_layers->indices;
  s.epochs_planned = c.epochs;
  s.seeds_planned = c.seeds;
  s.device = c.device;
}

std::string status_of(const RunSummary& s, const std::vector<std::string>& problems,
                      const std::vector<uint64_t>& seeds) {
  if (!problems.empty()) {
    std::string reasons;
    for (const auto& p : problems) reasons += (reasons.empty() ? "" : "; ") + p;
    return "damaged: " + reasons;
  }
  if (s.complete) return "complete";
  const bool any_epoch =
      std::any_of(s.seed_epochs.begin(), s.seed_epochs.end(), [](int e) { return e > 0; });
  if (s.seeds_done == 0 && !any_epoch) return "not started";
  std::string status =
      "partial: " + std::to_string(s.seeds_done) + "/" + std::to_string(s.seeds_planned) + " seeds";
  for (size_t i = 0; i < s.seed_epochs.size(); ++i) {
    if (s.seed_epochs[i] >= s.epochs_planned) continue;
    if (s.seed_epochs[i] > 0) {
      status += ", epoch " + std::to_string(s.seed_epochs[i]) + "/" +
                std::to_string(s.epochs_planned) + " of seed " + std::to_string(seeds[i]);
    }
    break;
  }
  return status;
}

/// Shortest text that reads back to the same double.
std::string number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break.
std::string cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

}  // namespace

RunSummary summarize_run(const std::string& run_dir) {
  RunSummary s;
  const fs::path dir(run_dir);
  s.run_dir = run_dir;
  s.folder = dir.filename().string();
  s.name = s.folder;
  s.modified_unix = latest_mtime(dir);
  std::vector<std::string> problems;
  const auto note = [&](const std::exception& e) {
    problems.push_back(relative_message(e.what(), run_dir));
  };

  std::error_code ec;
  try {
    const ExperimentConfig given = read_config(dir / kRunConfigFile, kRunConfigFile);
    if (!fs::exists(dir / kRunResolvedFile, ec))
      s.config = given;  // just created: not resolved yet
  } catch (const std::exception& e) {
    note(e);
  }
  if (fs::exists(dir / kRunResolvedFile, ec)) {
    try {
      s.config = read_config(dir / kRunResolvedFile, kRunResolvedFile);
    } catch (const std::exception& e) {
      note(e);
    }
  }
  if (s.config) fill_from_config(*s.config, s);

  if (fs::exists(dir / kRunResultFile, ec)) {
    try {
      s.result = read_result(run_dir);
      read_result_extras(dir / kRunResultFile, s);
    } catch (const std::exception& e) {
      s.result.reset();
      note(e);
    }
  }
  if (s.result) {
    s.complete = s.result->complete;
    s.seeds_done = static_cast<int>(s.result->seeds.size());
    if (!s.result->seeds.empty()) {
      s.best_mean = s.result->best_test_acc_mean;
      s.best_std = s.result->best_test_acc_std;
      s.last_mean = s.result->last_test_acc_mean;
      s.last_std = s.result->last_test_acc_std;
    }
  }

  // Epochs per seed: the planned seeds when the experiment is known, else the folders found.
  std::vector<uint64_t> seeds;
  if (s.config) {
    for (int i = 0; i < s.config->seeds; ++i)
      seeds.push_back(s.config->seed + static_cast<uint64_t>(i));
  } else {
    try {
      for (const auto& d : seed_dirs(run_dir)) seeds.push_back(seed_of_dir(d));
    } catch (const std::exception& e) {
      note(e);
    }
    s.seeds_planned = static_cast<int>(seeds.size());
  }
  for (uint64_t seed : seeds) {
    int epochs = 0;
    try {
      epochs = static_cast<int>(read_epoch_history((dir / seed_folder_name(seed)).string()).size());
    } catch (const std::exception& e) {
      note(e);
    }
    s.seed_epochs.push_back(epochs);
  }
  s.epochs_done =
      s.seed_epochs.empty() ? 0 : *std::min_element(s.seed_epochs.begin(), s.seed_epochs.end());
  s.status = status_of(s, problems, seeds);
  return s;
}

std::vector<RunSummary> list_runs(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) throw Error("the runs folder " + root + " does not exist");
  if (!fs::is_directory(root, ec)) throw Error(root + " is not a folder");
  fs::directory_iterator it(root, ec);
  if (ec) throw Error("cannot read the runs folder " + root + ": " + ec.message());
  std::vector<RunSummary> runs;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (!it->is_directory(fec) || !fs::exists(it->path() / kRunConfigFile, fec)) continue;
    runs.push_back(summarize_run(it->path().string()));
  }
  if (ec) throw Error("cannot read the runs folder " + root + ": " + ec.message());
  std::sort(runs.begin(), runs.end(), [](const RunSummary& a, const RunSummary& b) {
    return a.modified_unix != b.modified_unix ? a.modified_unix > b.modified_unix
                                              : a.folder < b.folder;
  });
  return runs;
}

std::vector<EpochReport> read_epoch_history(const std::string& seed_dir) {
  const fs::path path = fs::path(seed_dir) / kEpochsFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  const std::string text = read_text(path);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  const int epochs = planned_epochs(fs::path(seed_dir).parent_path());
  std::vector<EpochReport> history;
  double best = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      EpochReport r = parse_epoch_record(lines[i], epochs);
      r.best = r.test_acc > best;
      best = std::max(best, r.test_acc);
      history.push_back(std::move(r));
    } catch (const std::exception& e) {
      if (i + 1 == lines.size()) break;  // torn by a killed writer: the epoch did not complete
      throw Error(path.string() + " line " + std::to_string(i + 1) + " is damaged: " + e.what());
    }
  }
  return history;
}

uint64_t seed_of_dir(const std::string& seed_dir) {
  const std::string name = fs::path(seed_dir).filename().string();
  const std::string digits =
      name.rfind(kSeedPrefix, 0) == 0 ? name.substr(std::string(kSeedPrefix).size()) : "";
  uint64_t seed = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), seed);
  if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) {
    throw Error(seed_dir + " is not a seed folder (seed-<number>)");
  }
  return seed;
}

std::vector<std::string> seed_dirs(const std::string& run_dir) {
  std::error_code ec;
  fs::directory_iterator it(run_dir, ec);
  if (ec) throw Error("cannot read the run folder " + run_dir + ": " + ec.message());
  std::vector<std::pair<uint64_t, std::string>> found;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (!it->is_directory(fec)) continue;
    try {
      found.emplace_back(seed_of_dir(it->path().string()), it->path().string());
    } catch (const Error&) {
      // Another folder: not ours to list.
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [seed, path] : found) out.push_back(std::move(path));
  return out;
}

std::string epochs_csv(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error("the run folder " + run_dir + " does not exist");
  std::vector<std::pair<uint64_t, std::vector<EpochReport>>> seeds;
  std::vector<std::string> components;
  for (const auto& dir : seed_dirs(run_dir)) {
    seeds.emplace_back(seed_of_dir(dir), read_epoch_history(dir));
    for (const auto& r : seeds.back().second) {
      for (const auto& [name, value] : r.losses) {
        if (std::find(components.begin(), components.end(), name) == components.end())
          components.push_back(name);
      }
    }
  }
  std::string csv = "seed,epoch,train_loss";
  for (const auto& c : components) csv += "," + cell(c);
  csv += ",train_acc,test_acc,test_loss,lr,seconds\n";
  for (const auto& [seed, history] : seeds) {
    for (const auto& r : history) {
      // The CSV counts epochs from 1, as people do; epochs.jsonl counts from 0.
      csv += std::to_string(seed) + "," + std::to_string(r.epoch + 1) + "," + number(r.loss);
      for (const auto& c : components) {
        const auto it = std::find_if(r.losses.begin(), r.losses.end(),
                                     [&](const auto& p) { return p.first == c; });
        csv += "," + (it == r.losses.end() ? std::string() : number(it->second));
      }
      csv += "," + number(r.train_acc) + "," + number(r.test_acc) + "," + number(r.test_loss) +
             "," + number(r.lr) + "," + number(r.seconds) + "\n";
    }
  }
  return csv;
}

}  // namespace kd
