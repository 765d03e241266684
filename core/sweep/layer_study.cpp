#include "sweep/layer_study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>

#include "common/error.h"
#include "distill/method.h"
#include "io/atomic_file.h"
#include "io/text_file.h"
#include "sweep/sweep_summary.h"

namespace kd {
namespace {

using json = nlohmann::ordered_json;

/// The choices by a score or by the paper's standard lists, in the order the report shows them.
const std::vector<std::string> kNamedChoices = {"Q", "standard", "S", "I", "E", "sqrtIE"};
/// Differences smaller than this many standard errors are called noise in the verdict.
constexpr double kClearDifference = 2.0;
/// Draws allowed per random set before giving up on finding a new one (small teachers).
constexpr int kMaxDraws = 1000;

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double rank = (static_cast<double>(i + j) / 2.0) + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

std::string points(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string verdict_of(const StudyReport& report) {
  const StudyRow* q = nullptr;
  const StudyRow* standard = nullptr;
  for (const StudyRow& r : report.rows) {
    if (r.choice == "Q" && r.acc_mean) q = &r;
    if (r.choice == "standard" && r.acc_mean) standard = &r;
  }
  std::string text;
  if (!q || !standard) {
    text = "Not enough finished runs yet to compare the Q layers with the standard ones.";
  } else {
    const double diff = *q->acc_mean - *standard->acc_mean;
    const double se = std::sqrt(std::pow(q->acc_std.value_or(0), 2) / std::max(1, q->seeds) +
                                std::pow(standard->acc_std.value_or(0), 2) / std::max(1, standard->seeds));
    const std::string amount = points(std::abs(diff)) + " +- " + points(se) + " points";
    if (diff > kClearDifference * se && diff > 0) {
      text = "On this data, the Q layers beat the standard ones by " + amount + ".";
    } else if (-diff > kClearDifference * se && diff < 0) {
      text = "On this data, the Q layers do not beat the standard ones: they trail them by " + amount + ".";
    } else {
      text = "On this data, the Q layers and the standard ones are within noise of each other (" +
             std::string(diff >= 0 ? "+" : "-") + amount + ").";
    }
    if (q->seeds < 2 || standard->seeds < 2) text += " (One seed each: run more seeds to judge.)";
  }
  if (report.spearman && std::isfinite(*report.spearman)) {
    const double rho = *report.spearman;
    text += " Across the layer choices, accuracy " +
            std::string(rho >= 0.5 ? "rises with" : rho <= -0.5 ? "falls as" : "does not follow") +
            " the mean Q of the chosen teacher layers" + (rho <= -0.5 ? " rises" : "") +
            " (Spearman's rho = " + points(rho) + ").";
  }
  return text;
}

}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2)
    throw Error("Spearman's correlation needs two equally long lists of at least 2 values");
  const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n;
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  if (sxx == 0 || syy == 0) return std::nan("");
  return sxy / std::sqrt(sxx * syy);
}

void check_layer_study_base(const ExperimentConfig& base) {
  const MethodTraits traits = method_traits(base.method);
  if (!traits.needs_teacher || !(traits.feature_pairs || traits.all_pairs)) {
    throw Error("the layer study varies the teacher layers, and method '" + method_name(base.method) +
                "' distils none: use ours (or ours_ce, ours_kd, fitnets)");
  }
}

std::string layer_study_sweep(const std::string& name, const std::string& base_json,
                              const std::vector<StudyLayer>& layers,
                              const LayerStudyOptions& options) {
  const ExperimentConfig base = experiment_from_json(base_json, "the study's base experiment");
  check_layer_study_base(base);
  if (options.seeds < 1 || options.random_sets < 0)
    throw Error("the layer study needs at least 1 seed and no negative number of random sets");
  const int k = base.teacher_layers && base.teacher_layers->kind == LayerChoice::Kind::kExplicit
                    ? static_cast<int>(base.teacher_layers->indices.size())
                    : base.num_layers;
  const int count = static_cast<int>(layers.size());
  if (k > count) {
    throw Error("the study chooses " + std::to_string(k) + " teacher layers (num_layers), and the "
                "teacher has " + std::to_string(count));
  }
  json choices = json::array();
  for (const auto& c : kNamedChoices) choices.push_back(c);
  std::mt19937_64 rng(options.random_seed);
  std::set<std::vector<int>> drawn;
  for (int s = 0; s < options.random_sets; ++s) {
    for (int attempt = 0; attempt < kMaxDraws; ++attempt) {
      std::vector<int> all(static_cast<size_t>(count));
      std::iota(all.begin(), all.end(), 0);
      std::shuffle(all.begin(), all.end(), rng);
      std::vector<int> pick(all.begin(), all.begin() + k);
      std::sort(pick.begin(), pick.end());
      for (int& i : pick) i = layers[static_cast<size_t>(i)].index;
      if (drawn.insert(pick).second) {
        choices.push_back(pick);
        break;
      }
    }
  }
  json seeds = json::array();
  for (int s = 0; s < options.seeds; ++s) seeds.push_back(base.seed + static_cast<uint64_t>(s));
  json base_object = json::parse(base_json);
  base_object["seeds"] = 1;
  base_object.erase("teacher_layers");
  const json sweep = {{"format", kSweepFormat}, {"version", kSweepVersion}, {"name", name},
                      {"base", base_object},
                      {"axes", {{"teacher_layers", choices}, {"seed", seeds}}}};
  return sweep.dump(2) + "\n";
}

std::vector<StudyLayer> analyse_study_teacher(const ExperimentConfig& base,
                                              const PrepareOptions& options,
                                              ProgressSink* progress) {
  check_layer_study_base(base);
  ExperimentConfig by_q = base;
  LayerChoice q;
  q.kind = LayerChoice::Kind::kCriterion;
  q.criterion = SelectionCriterion::kQuality;
  by_q.teacher_layers = q;
  const PreparedExperiment prepared = prepare_experiment(by_q, options, progress);
  throw_if_cancelled(progress);
  if (!prepared.analysis) throw Error("the teacher's layer analysis did not run");
  std::vector<StudyLayer> layers;
  for (const auto& l : prepared.analysis->layers) {
    layers.push_back({l.layer.index, l.layer.name, l.scores.quality, l.scores.separation,
                      l.scores.information, l.scores.efficiency});
  }
  return layers;
}

std::string layer_study_name(const ExperimentConfig& base) {
  return (base.name.empty() ? std::string("layers") : base.name) + "-study";
}

SweepFolder create_layer_study(const ExperimentConfig& base, const std::vector<StudyLayer>& layers,
                               const LayerStudyOptions& options, const std::string& name,
                               const std::string& out_root) {
  const std::string text = layer_study_sweep(name, experiment_to_json(base), layers, options);
  const Sweep sweep = sweep_from_json(text, name + ".json");
  SweepFolder folder = SweepFolder::create(sweep, text, out_root);
  write_study_layers(folder.dir(), layers);
  return folder;
}

void write_study_layers(const std::string& sweep_dir, const std::vector<StudyLayer>& layers) {
  json out = {{"format", "kdstudio-layer-study"}, {"version", 1}};
  json list = json::array();
  for (const StudyLayer& l : layers) {
    list.push_back({{"index", l.index}, {"name", l.name}, {"Q", l.quality}, {"S", l.separation},
                    {"I", l.information}, {"E", l.efficiency}});
  }
  out["layers"] = list;
  write_file_atomically(sweep_dir + "/" + kStudyLayersFile, out.dump(2) + "\n");
}

std::vector<StudyLayer> read_study_layers(const std::string& sweep_dir) {
  const std::string path = sweep_dir + "/" + kStudyLayersFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(sweep_dir + " is not a layer study (it has no " + std::string(kStudyLayersFile) +
                "; 'kdstudio-cli study layers' makes one)");
  }
  try {
    std::vector<StudyLayer> layers;
    const json root = json::parse(read_text_file(path));  // kept alive: the loop reads into it
    for (const json& l : root.at("layers")) {
      layers.push_back({l.at("index").get<int>(), l.at("name").get<std::string>(),
                        l.at("Q").get<double>(), l.at("S").get<double>(), l.at("I").get<double>(),
                        l.at("E").get<double>()});
    }
    return layers;
  } catch (const json::exception& e) {
    throw Error(path + ": damaged (" + std::string(e.what()) + ")");
  }
}

StudyReport layer_study_report(const SweepStatus& status, const std::vector<StudyLayer>& layers) {
  StudyReport report;
  const auto q_of = [&](int index) -> std::optional<double> {
    for (const StudyLayer& l : layers)
      if (l.index == index) return l.quality;
    return std::nullopt;
  };
  for (const SweepGroup& g : group_results(status)) {
    StudyRow row;
    for (const SweepSetting& s : g.settings)
      if (s.key == "teacher_layers") row.choice = setting_text(s);
    // The layers the runs trained with; before any run, what a score would choose.
    for (int index : g.points) {
      const PointStatus& p = status.points[static_cast<size_t>(index)];
      if (p.run && !p.run->teacher_layers.empty()) row.layers = p.run->teacher_layers;
    }
    if (row.layers.empty() && row.choice.rfind('[', 0) == 0) {
      row.layers = json::parse(row.choice).get<std::vector<int>>();
    }
    if (!row.layers.empty()) {
      double sum = 0;
      bool known = true;
      for (int i : row.layers) {
        const auto q = q_of(i);
        known = known && q.has_value();
        sum += q.value_or(0);
      }
      if (known) row.mean_q = sum / static_cast<double>(row.layers.size());
    }
    row.seeds = g.seeds;
    row.acc_mean = g.best_mean;
    row.acc_std = g.best_std;
    report.rows.push_back(row);
  }
  std::vector<double> q, acc;
  for (const StudyRow& r : report.rows) {
    if (r.mean_q && r.acc_mean) q.push_back(*r.mean_q), acc.push_back(*r.acc_mean);
  }
  if (q.size() >= 3) report.spearman = spearman(q, acc);
  report.verdict = verdict_of(report);
  return report;
}

std::string layer_study_report_json(const StudyReport& report) {
  const auto optional = [](const std::optional<double>& v) {
    return v && std::isfinite(*v) ? json(*v) : json();
  };
  json rows = json::array();
  for (const StudyRow& r : report.rows) {
    rows.push_back({{"choice", r.choice}, {"layers", r.layers}, {"mean_q", optional(r.mean_q)},
                    {"seeds", r.seeds}, {"acc_mean", optional(r.acc_mean)},
                    {"acc_std", optional(r.acc_std)}});
  }
  const json out = {{"rows", rows}, {"spearman", optional(report.spearman)},
                    {"verdict", report.verdict}};
  return out.dump(2) + "\n";
}

}  // namespace kd
