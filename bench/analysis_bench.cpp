// Layer-analysis benchmark: time and peak memory of KD Studio's streaming analysis against a
// straightforward implementation that first stores every layer's features for both samples
// (the authors' approach), on CIFAR-size synthetic data. Run each mode in its own process so
// that the peak resident memory is the mode's own: bench/run_analysis_bench.sh does that.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analysis/feature_extractor.h"
#include "analysis/knowledge_quality.h"
#include "analysis/layer_analyzer.h"
#include "common/allocator.h"
#include "common/device.h"
#include "data/balanced_subset.h"
#include "data/seeded_random.h"
#include "data/transforms.h"
#include "models/zoo/zoo_builder.h"

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

/// CIFAR-size synthetic training split: random images, balanced labels.
kd::Dataset synthetic_cifar(int64_t n, int64_t classes, int64_t size) {
  torch::manual_seed(0);
  kd::Dataset d;
  d.name = "synthetic CIFAR-size";
  d.source = "random";
  for (int64_t c = 0; c < classes; ++c) d.class_names.push_back("class" + std::to_string(c));
  d.train.images = torch::randint(0, 256, {n, 3, size, size}, torch::kUInt8);
  d.train.labels = torch::arange(n, torch::kInt64) % classes;
  d.test = d.train;
  return d;
}

/// The straightforward way: every layer's features of both samples in memory, then the metric
/// with the full |A| x |A| products.
std::vector<double> naive_analysis(kd::LayeredModel& model, const kd::Dataset& data,
                                   int64_t per_a, int64_t per_b) {
  const int64_t classes = data.num_classes();
  auto take = [&](int64_t per, uint64_t seed) {
    return torch::tensor(kd::balanced_subset(data.train.labels, classes, per, seed), torch::kInt64);
  };
  const torch::Tensor ia = take(per_a, 0), ib = take(per_b, kd::mix_seed(0, 1));
  const kd::ChannelStats stats = kd::compute_channel_stats(data.train);
  std::vector<int> all(static_cast<size_t>(model.num_layers()));
  for (int l = 0; l < model.num_layers(); ++l) all[static_cast<size_t>(l)] = l;
  kd::ExtractOptions opt;
  opt.batch_size = 256;
  const auto fa = kd::extract_features(model, data.train.images.index_select(0, ia), stats, all, opt);
  const auto fb = kd::extract_features(model, data.train.images.index_select(0, ib), stats, all, opt);
  const torch::Tensor la = data.train.labels.index_select(0, ia);
  const torch::Tensor lb = data.train.labels.index_select(0, ib);
  kd::QualityOptions full;
  full.block_rows = la.size(0);
  std::vector<double> q;
  for (size_t l = 0; l < all.size(); ++l) {
    q.push_back(kd::knowledge_quality(fa[l], la, fb[l], lb, classes, data.train.size(), full).quality);
  }
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"KD Studio layer-analysis benchmark (one mode per process)"};
  std::string mode = "ours", spec = "resnet34";
  int64_t per_a = 250, per_b = 250, train = 50000;
  int threads = 0;
  app.add_option("--mode", mode, "ours or naive")->check(CLI::IsMember({"ours", "naive"}));
  app.add_option("--model", spec, "zoo spec (CIFAR size)");
  app.add_option("--per-class", per_a, "sample A per class");
  app.add_option("--per-class-b", per_b, "sample B per class");
  app.add_option("--train-size", train, "synthetic training split size");
  app.add_option("--threads", threads, "intra-op threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  kd::tune_allocator();
  kd::configure_threads(threads);
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec));
  const kd::Dataset data = synthetic_cifar(train, model->num_classes(), model->input_shape().height);
  const double rss_before = peak_rss_mb();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> q;
  if (mode == "naive") {
    q = naive_analysis(*model, data, per_a, per_b);
  } else {
    kd::AnalysisSettings s;
    s.per_class_a = per_a;
    s.per_class_b = per_b;
    s.geometry_samples = 0;  // the metric only, like the naive side
    s.device = "cpu";
    for (const auto& l : kd::analyze_layers(*model, data, s).layers) q.push_back(l.scores.quality);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out = {{"mode", mode},         {"model", spec},
                        {"sample_a", per_a * model->num_classes()},
                        {"sample_b", per_b * model->num_classes()},
                        {"seconds", seconds},   {"peak_rss_mb", peak_rss_mb()},
                        {"rss_before_mb", rss_before}, {"threads", at::get_num_threads()},
                        {"Q", q}};
  std::cout << out.dump() << std::endl;
  return 0;
}
