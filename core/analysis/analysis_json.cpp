// JSON form of an AnalysisResult: the CLI's --json output and the on-disk cache.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "analysis/layer_analyzer.h"
#include "common/error.h"

namespace kd {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double number_of(const json& j, const char* key) {
  const json& v = j.at(key);
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

json layer_json(const LayerAnalysis& l) {
  const QualityScores& s = l.scores;
  return {{"index", l.layer.index},       {"name", l.layer.name},
          {"kind", l.layer.kind},         {"shape", l.layer.shape},
          {"params", l.layer.params},     {"in_head", l.layer.in_head},
          {"feature_dim", l.feature_dim}, {"S", number(s.separation)},
          {"I", number(s.information)},   {"E", number(s.efficiency)},
          {"Q", number(s.quality)},       {"avg_intra", number(s.avg_intra)},
          {"avg_inter", number(s.avg_inter)}, {"min_intra", number(s.min_intra)},
          {"mean_entropy", number(s.mean_entropy)}, {"min_inter_dist", number(s.min_inter_dist)},
          {"avg_norm", number(s.avg_norm)}, {"pcagid", s.pcagid},
          {"twonn_id", number(l.twonn_id)}, {"pca_id", l.pca_id},
          {"rank", l.rank},               {"ncc_accuracy", number(l.ncc_accuracy)}};
}

LayerAnalysis layer_from_json(const json& j) {
  LayerAnalysis l;
  l.layer.index = j.at("index").get<int>();
  l.layer.name = j.at("name").get<std::string>();
  l.layer.kind = j.at("kind").get<std::string>();
  l.layer.shape = j.at("shape").get<std::vector<int64_t>>();
  l.layer.params = j.at("params").get<int64_t>();
  l.layer.in_head = j.at("in_head").get<bool>();
  l.feature_dim = j.at("feature_dim").get<int64_t>();
  QualityScores& s = l.scores;
  s.separation = number_of(j, "S");
  s.information = number_of(j, "I");
  s.efficiency = number_of(j, "E");
  s.quality = number_of(j, "Q");
  s.avg_intra = number_of(j, "avg_intra");
  s.avg_inter = number_of(j, "avg_inter");
  s.min_intra = number_of(j, "min_intra");
  s.mean_entropy = number_of(j, "mean_entropy");
  s.min_inter_dist = number_of(j, "min_inter_dist");
  s.avg_norm = number_of(j, "avg_norm");
  s.pcagid = j.at("pcagid").get<int64_t>();
  l.twonn_id = number_of(j, "twonn_id");
  l.pca_id = j.at("pca_id").get<int64_t>();
  l.rank = j.at("rank").get<int64_t>();
  l.ncc_accuracy = number_of(j, "ncc_accuracy");
  return l;
}

}  // namespace

std::string analysis_to_json(const AnalysisResult& r, int indent) {
  const AnalysisSettings& st = r.settings;
  json j = {{"model", r.model},
            {"dataset", r.dataset},
            {"settings",
             {{"per_class_a", st.per_class_a},
              {"per_class_b", st.per_class_b},
              {"seed", st.seed},
              {"top_k", st.top_k},
              {"geometry_samples", st.geometry_samples},
              {"batch_size", st.batch_size},
              {"device", st.device}}},
            {"sample_a", r.sample_a},
            {"sample_b", r.sample_b},
            {"n_train", r.n_train},
            {"recommended", r.recommended},
            {"by_criterion", r.by_criterion},
            {"device", r.device},
            {"seconds", r.seconds},
            {"from_cache", r.from_cache}};
  j["layers"] = json::array();
  for (const auto& l : r.layers) j["layers"].push_back(layer_json(l));
  return j.dump(indent);
}

AnalysisResult analysis_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    AnalysisResult r;
    r.model = j.at("model").get<std::string>();
    r.dataset = j.at("dataset").get<std::string>();
    const json& st = j.at("settings");
    r.settings.per_class_a = st.at("per_class_a").get<int64_t>();
    r.settings.per_class_b = st.at("per_class_b").get<int64_t>();
    r.settings.seed = st.at("seed").get<uint64_t>();
    r.settings.top_k = st.at("top_k").get<int>();
    r.settings.geometry_samples = st.at("geometry_samples").get<int64_t>();
    r.settings.batch_size = st.at("batch_size").get<int64_t>();
    r.settings.device = st.at("device").get<std::string>();
    r.sample_a = j.at("sample_a").get<int64_t>();
    r.sample_b = j.at("sample_b").get<int64_t>();
    r.n_train = j.at("n_train").get<int64_t>();
    r.recommended = j.at("recommended").get<std::vector<int>>();
    r.by_criterion = j.at("by_criterion").get<std::map<std::string, std::vector<int>>>();
    r.device = j.at("device").get<std::string>();
    r.seconds = j.at("seconds").get<double>();
    r.from_cache = j.at("from_cache").get<bool>();
    for (const auto& l : j.at("layers")) r.layers.push_back(layer_from_json(l));
    return r;
  } catch (const json::exception& e) {
    throw Error(std::string("malformed analysis JSON: ") + e.what());
  }
}

}  // namespace kd
