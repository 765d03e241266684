#include "sweep/sweep_summary.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "experiment/experiment_runner.h"

namespace kd {
namespace {

using json = nlohmann::ordered_json;

std::string number(const std::optional<double>& v) {
  if (!v) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

std::string cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char ch : text) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(); }

}  // namespace

std::vector<SweepGroup> group_results(const SweepStatus& status) {
  std::vector<SweepGroup> groups;
  std::map<std::string, size_t> where;
  std::map<std::string, std::vector<double>> best, last;
  for (const PointStatus& p : status.points) {
    auto [it, fresh] = where.emplace(p.point.group, groups.size());
    if (fresh) {
      SweepGroup g;
      g.group = p.point.group;
      for (const SweepSetting& s : p.point.settings)
        if (s.key != "seed") g.settings.push_back(s);
      groups.push_back(std::move(g));
    }
    SweepGroup& g = groups[it->second];
    g.points.push_back(p.point.index);
    g.points_done += p.state == PointState::kDone;
    if (!p.run || !p.run->result) continue;
    for (const SeedResult& seed : p.run->result->seeds) {
      best[g.group].push_back(seed.best_test_acc);
      last[g.group].push_back(seed.last_test_acc);
    }
  }
  for (SweepGroup& g : groups) {
    const auto& b = best[g.group];
    g.seeds = static_cast<int>(b.size());
    if (b.empty()) continue;
    const auto [best_mean, best_std] = mean_std(b);
    const auto [last_mean, last_std] = mean_std(last[g.group]);
    g.best_mean = best_mean, g.best_std = best_std;
    g.last_mean = last_mean, g.last_std = last_std;
  }
  return groups;
}

std::string sweep_csv(const SweepStatus& status) {
  const std::vector<SweepGroup> groups = group_results(status);
  std::vector<std::string> keys;
  for (const SweepGroup& g : groups)
    for (const SweepSetting& s : g.settings)
      if (std::find(keys.begin(), keys.end(), s.key) == keys.end()) keys.push_back(s.key);
  std::string out = "group";
  for (const auto& k : keys) out += "," + cell(k);
  out += ",points,points_done,seeds,best_mean,best_std,last_mean,last_std\n";
  for (const SweepGroup& g : groups) {
    out += cell(g.group);
    for (const auto& k : keys) {
      std::string value;
      for (const SweepSetting& s : g.settings)
        if (s.key == k) value = setting_text(s);
      out += "," + cell(value);
    }
    out += "," + std::to_string(g.points.size()) + "," + std::to_string(g.points_done) + "," +
           std::to_string(g.seeds) + "," + number(g.best_mean) + "," + number(g.best_std) + "," +
           number(g.last_mean) + "," + number(g.last_std) + "\n";
  }
  return out;
}

std::string sweep_status_json(const SweepStatus& status) {
  json out;
  out["name"] = status.name;
  out["dir"] = status.dir;
  json counts = json::object();
  for (PointState s : {PointState::kDone, PointState::kRunning, PointState::kInterrupted,
                       PointState::kPending, PointState::kFailed}) {
    counts[point_state_name(s)] = status.count(s);
  }
  out["counts"] = counts;
  json points = json::array();
  for (const PointStatus& p : status.points) {
    json settings = json::object();
    for (const SweepSetting& s : p.point.settings) settings[s.key] = json::parse(s.value);
    json point = {{"index", p.point.index}, {"label", p.point.label}, {"group", p.point.group},
                  {"settings", settings}, {"status", point_state_name(p.state)},
                  {"detail", p.detail}, {"run_dir", p.run_dir}};
    if (p.run) {
      point["epochs_done"] = p.run->epochs_done;
      point["epochs_planned"] = p.run->epochs_planned;
      point["best_mean"] = optional_json(p.run->best_mean);
      point["best_std"] = optional_json(p.run->best_std);
      point["last_mean"] = optional_json(p.run->last_mean);
      point["last_std"] = optional_json(p.run->last_std);
    }
    points.push_back(point);
  }
  out["points"] = points;
  json groups = json::array();
  for (const SweepGroup& g : group_results(status)) {
    groups.push_back({{"group", g.group}, {"points", g.points}, {"points_done", g.points_done},
                      {"seeds", g.seeds}, {"best_mean", optional_json(g.best_mean)},
                      {"best_std", optional_json(g.best_std)},
                      {"last_mean", optional_json(g.last_mean)},
                      {"last_std", optional_json(g.last_std)}});
  }
  out["groups"] = groups;
  return out.dump(2) + "\n";
}

}  // namespace kd
