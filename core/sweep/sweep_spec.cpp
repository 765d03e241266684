#include "sweep/sweep_spec.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <limits>
#include <map>
#include <set>

#include "common/error.h"
#include "io/text_file.h"

namespace kd {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

/// Keys a sweep file may hold.
const std::set<std::string> kSweepKeys = {"format", "version", "name", "base", "axes", "zip"};
/// Invalid points named one by one in an error before the rest are only counted.
constexpr size_t kMaxPointProblems = 5;

/// One dimension of the grid: a plain axis (one key) or a zip group (several keys); each of its
/// values sets every key.
struct Dimension {
  std::string title;  ///< "seed" or "zip(teacher_layers, student_layers)"
  std::vector<std::vector<SweepSetting>> values;
};

std::string shown(const json& value) {
  std::string text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

json parse(const std::string& text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    std::string message = e.what();
    const size_t bracket = message.find("] ");
    if (message.rfind("[json.exception", 0) == 0 && bracket != std::string::npos)
      message = message.substr(bracket + 2);
    throw Error(origin + ": not valid JSON: " + message);
  }
}

/// Points that differ only by seed are pooled; each trains `seeds` seeds from its `seed`, so
/// their ranges must not overlap (seed [0, 1] with "seeds": 3 would train seeds 1 and 2 twice).
void check_seed_overlap(const std::vector<SweepPoint>& points, std::vector<std::string>& problems) {
  std::map<std::string, std::vector<const SweepPoint*>> groups;
  for (const SweepPoint& p : points) groups[p.group].push_back(&p);
  for (const auto& [group, members] : groups) {
    for (size_t i = 0; i < members.size(); ++i) {
      for (size_t j = i + 1; j < members.size(); ++j) {
        const ExperimentConfig& a = members[i]->config;
        const ExperimentConfig& b = members[j]->config;
        if (a.seed == b.seed && a.seeds <= 1 && b.seeds <= 1) continue;  // the same run twice: allowed
        if (a.seed < b.seed + static_cast<uint64_t>(b.seeds) && b.seed < a.seed + static_cast<uint64_t>(a.seeds)) {
          const auto range = [](const ExperimentConfig& c) {
            return c.seeds == 1 ? "seed " + std::to_string(c.seed)
                                : "seeds " + std::to_string(c.seed) + "-" + std::to_string(c.seed + static_cast<uint64_t>(c.seeds) - 1);
          };
          problems.push_back("point " + std::to_string(members[i]->index) + " (" + members[i]->label +
                             ") trains " + range(a) + " and point " + std::to_string(members[j]->index) +
                             " (" + members[j]->label + ") " + range(b) +
                             ": their results would pool the same seeds twice; vary \"seed\" with "
                             "\"seeds\": 1 in the base (each point one seed), or use seeds that "
                             "are further apart");
          return;
        }
      }
    }
  }
}

void check_header(const json& root, const std::string& origin, std::vector<std::string>& problems) {
  const auto format = root.find("format");
  if (format == root.end()) {
    problems.push_back("format: missing (a sweep file starts with \"format\": \"" +
                       std::string(kSweepFormat) + "\")");
  } else if (!format->is_string() || format->get<std::string>() != kSweepFormat) {
    throw Error(origin + ": format: expected \"" + kSweepFormat + "\", got " + shown(*format) +
                (format->is_string() && format->get<std::string>() == kExperimentFormat
                     ? " (an experiment file: run it with 'kdstudio-cli train --config')"
                     : " (not a KD Studio sweep file)"));
  }
  const auto version = root.find("version");
  if (version != root.end()) {
    if (!version->is_number_integer() || version->get<int64_t>() < 1) {
      problems.push_back("version: expected a positive integer, got " + shown(*version));
    } else if (version->get<int64_t>() > kSweepVersion) {
      throw Error(origin + ": written by a newer KD Studio (sweep version " +
                  std::to_string(version->get<int64_t>()) + "; this one reads up to version " +
                  std::to_string(kSweepVersion) + ")");
    }
  }
  for (const auto& item : root.items()) {
    if (!kSweepKeys.count(item.key())) {
      problems.push_back("unknown key '" + item.key() +
                         "' (a sweep file has format, version, name, base, axes and zip; "
                         "experiment settings go in \"base\")");
    }
  }
}

/// The base experiment as a JSON object: inline, or an experiment file (ours or the paper's).
json read_base(const json& root, const std::string& base_dir, const std::string& origin) {
  const auto base = root.find("base");
  if (base == root.end()) throw Error(origin + ": base: missing (the experiment the axes vary)");
  if (base->is_object()) return *base;
  if (!base->is_string()) {
    throw Error(origin + ": base: expected an experiment (a JSON object) or the path of an "
                "experiment file, got " + shown(*base));
  }
  fs::path path(base->get<std::string>());
  if (path.is_relative()) path = fs::path(base_dir) / path;
  const ExperimentConfig config = load_experiment_file(path.lexically_normal().string());
  return json::parse(experiment_to_json(config));
}

/// Checks an experiment key used by an axis or a zip group.
void check_key(const std::string& where, const std::string& key, std::set<std::string>& seen,
               std::vector<std::string>& problems) {
  if (key == "format" || key == "version") {
    problems.push_back(where + ": '" + key + "' cannot vary (it describes the file)");
  } else if (!is_experiment_key(key)) {
    problems.push_back(where + ": " + unknown_experiment_key_message(key));
  } else if (!seen.insert(key).second) {
    problems.push_back(where + ": '" + key + "' is varied twice (by two axes or groups)");
  }
}

std::vector<Dimension> read_dimensions(const json& root, std::vector<std::string>& keys,
                                       std::vector<std::string>& problems) {
  std::vector<Dimension> dims;
  std::set<std::string> seen;
  if (const auto axes = root.find("axes"); axes != root.end()) {
    if (!axes->is_object()) {
      problems.push_back("axes: expected an object of experiment keys and their values, got " +
                         shown(*axes));
    } else {
      for (const auto& [key, values] : axes->items()) {
        const std::string where = "axes." + key;
        check_key(where, key, seen, problems);
        if (!values.is_array() || values.empty()) {
          problems.push_back(where + ": expected a non-empty list of values, got " + shown(values));
          continue;
        }
        Dimension dim{key, {}};
        for (const auto& v : values) dim.values.push_back({{key, v.dump()}});
        dims.push_back(std::move(dim));
        keys.push_back(key);
      }
    }
  }
  const auto zip = root.find("zip");
  if (zip == root.end()) return dims;
  if (!zip->is_array()) {
    problems.push_back("zip: expected a list of groups (objects of keys and equally long value "
                       "lists), got " + shown(*zip));
    return dims;
  }
  for (size_t g = 0; g < zip->size(); ++g) {
    const json& group = (*zip)[g];
    const std::string where = "zip[" + std::to_string(g) + "]";
    if (!group.is_object() || group.empty()) {
      problems.push_back(where + ": expected an object of keys and equally long value lists, got " +
                         shown(group));
      continue;
    }
    size_t length = 0;
    std::string first_key, title;
    bool ok = true;
    for (const auto& [key, values] : group.items()) {
      check_key(where + "." + key, key, seen, problems);
      title += (title.empty() ? "" : ", ") + key;
      if (!values.is_array() || values.empty()) {
        problems.push_back(where + "." + key + ": expected a non-empty list of values, got " +
                           shown(values));
        ok = false;
      } else if (first_key.empty()) {
        first_key = key, length = values.size();
      } else if (values.size() != length) {
        problems.push_back(where + ": the lists vary together and must be equally long: '" +
                           first_key + "' has " + std::to_string(length) + " values, '" + key +
                           "' has " + std::to_string(values.size()));
        ok = false;
      }
      keys.push_back(key);
    }
    if (!ok) continue;
    Dimension dim{"zip(" + title + ")", std::vector<std::vector<SweepSetting>>(length)};
    for (const auto& [key, values] : group.items()) {
      for (size_t i = 0; i < length; ++i) dim.values[i].push_back({key, values[i].dump()});
    }
    dims.push_back(std::move(dim));
  }
  return dims;
}

void check_size(const std::vector<Dimension>& dims, const std::string& origin) {
  int64_t count = 1;
  std::string factors;
  bool too_many = false;
  for (const Dimension& d : dims) {
    const auto n = static_cast<int64_t>(d.values.size());
    factors += (factors.empty() ? "" : " x ") + d.title + " " + std::to_string(n);
    if (n > 0 && count > std::numeric_limits<int64_t>::max() / n) too_many = true;  // absurd grids
    count = too_many ? count : count * n;
  }
  if (too_many || count > kMaxSweepPoints) {
    throw Error(origin + ": the sweep expands to " +
                (too_many ? std::string("far more than ") + std::to_string(kMaxSweepPoints)
                          : std::to_string(count)) +
                " points (" + factors + "); at most " + std::to_string(kMaxSweepPoints) +
                " are allowed: split it into several sweeps or shorten an axis");
  }
}

std::string joined(const std::vector<std::string>& lines, const std::string& origin) {
  std::string out;
  for (const auto& entry : lines) {
    size_t start = 0;
    while (start <= entry.size()) {
      const size_t end = std::min(entry.find('\n', start), entry.size());
      out += (out.empty() ? "" : "\n") + origin + ": " + entry.substr(start, end - start);
      start = end + 1;
    }
  }
  return out;
}

}  // namespace

std::string setting_text(const SweepSetting& setting) {
  const json value = json::parse(setting.value);
  return value.is_string() ? value.get<std::string>() : setting.value;
}

Sweep sweep_from_json(const std::string& text, const std::string& origin,
                      const std::string& base_dir) {
  const json root = parse(text, origin);
  if (!root.is_object()) throw Error(origin + ": expected a JSON object (a sweep), got " + shown(root));
  std::vector<std::string> problems;
  check_header(root, origin, problems);
  Sweep sweep;
  if (const auto name = root.find("name"); name != root.end()) {
    if (!name->is_string() || name->get<std::string>().empty())
      problems.push_back("name: expected a non-empty string, got " + shown(*name));
    else
      sweep.name = name->get<std::string>();
  }
  if (sweep.name.empty()) sweep.name = fs::path(origin).stem().string();
  if (!root.contains("axes") && !root.contains("zip"))
    problems.push_back("nothing varies: give \"axes\" (and/or \"zip\")");
  const std::vector<Dimension> dims = read_dimensions(root, sweep.axis_keys, problems);
  if (!problems.empty()) throw Error(joined(problems, origin));
  check_size(dims, origin);
  const json base = read_base(root, base_dir, origin);
  if (!base.is_object()) throw Error(origin + ": base: expected a JSON object, got " + shown(base));
  sweep.base_json = base.dump(2) + "\n";

  // Expansion order: the first dimension varies slowest (as itertools.product).
  std::vector<size_t> at(dims.size(), 0);
  size_t invalid = 0;
  for (int index = 0;; ++index) {
    SweepPoint p;
    p.index = index;
    json experiment = base;
    for (size_t d = 0; d < dims.size(); ++d) {
      for (const SweepSetting& s : dims[d].values[at[d]]) {
        p.settings.push_back(s);
        experiment[s.key] = json::parse(s.value);
        const std::string shown_setting = s.key + "=" + setting_text(s);
        p.label += (p.label.empty() ? "" : " ") + shown_setting;
        if (s.key != "seed") p.group += (p.group.empty() ? "" : " ") + shown_setting;
      }
    }
    if (p.label.empty()) p.label = "base";
    if (p.group.empty()) p.group = "base";
    p.config_json = experiment.dump(2) + "\n";
    try {
      p.config = experiment_from_json(p.config_json, "point " + std::to_string(index) + " (" + p.label + ")");
      sweep.points.push_back(std::move(p));
    } catch (const Error& e) {
      if (++invalid <= kMaxPointProblems) problems.push_back(e.what());
    }
    size_t d = dims.size();
    while (d > 0 && ++at[d - 1] == dims[d - 1].values.size()) at[--d] = 0;
    if (d == 0) break;
  }
  if (invalid > kMaxPointProblems)
    problems.push_back("... and " + std::to_string(invalid - kMaxPointProblems) + " more invalid points");
  if (problems.empty()) check_seed_overlap(sweep.points, problems);
  if (!problems.empty()) throw Error(joined(problems, origin));
  return sweep;
}

Sweep load_sweep_file(const std::string& path) {
  const std::string text = read_text_file(path);
  const fs::path dir = fs::path(path).parent_path();
  return sweep_from_json(text, path, dir.empty() ? "." : dir.string());
}

}  // namespace kd
