#include "analysis/layer_analyzer.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "analysis/activation_chain.h"
#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "common/device.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/seeded_random.h"
#include "data/transforms.h"

namespace kd {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Reports a sub-range [lo, hi) of the overall fraction to a parent sink.
class ScaledProgress final : public ProgressSink {
 public:
  ScaledProgress(ProgressSink* parent, double lo, double hi, std::string prefix)
      : parent_(parent), lo_(lo), hi_(hi), prefix_(std::move(prefix)) {}
  void progress(double f, const std::string& message) override {
    if (parent_ != nullptr) parent_->progress(lo_ + (hi_ - lo_) * f, prefix_ + message);
  }
  bool cancelled() const override { return parent_ != nullptr && parent_->cancelled(); }

 private:
  ProgressSink* parent_;
  double lo_, hi_;
  std::string prefix_;
};

struct Sample {
  torch::Tensor images;  // uint8 (n, C, H, W)
  torch::Tensor labels;  // int64 (n)
};

Sample take(const DatasetSplit& split, const std::vector<int64_t>& indices) {
  const torch::Tensor idx = torch::tensor(indices, torch::kInt64);
  return {split.images.index_select(0, idx), split.labels.index_select(0, idx)};
}

/// Geometry views on a class-balanced part of sample A; a view that cannot be computed on this
/// sample (e.g. too few points) is reported as NaN (or -1 for counts) rather than failing the
/// whole analysis.
void compute_geometry(LayerAnalysis& out, const torch::Tensor& feats, const torch::Tensor& labels,
                      int64_t num_classes) {
  auto guarded = [](auto&& f, auto fallback) -> decltype(fallback) {
    try {
      return static_cast<decltype(fallback)>(f());
    } catch (const Error&) {
      return fallback;
    }
  };
  out.twonn_id = guarded([&] { return twonn_dimension(feats); }, kNaN);
  out.pca_id = guarded([&] { return pca_intrinsic_dimension(feats, 0.9); }, int64_t{-1});
  out.rank = guarded([&] { return numerical_rank(feats); }, int64_t{-1});
  out.ncc_accuracy = guarded([&] { return ncc_accuracy(feats, labels, num_classes); }, kNaN);
}

}  // namespace

AnalysisResult analyze_layers(LayeredModel& model, const Dataset& data,
                              const AnalysisSettings& settings, ProgressSink* progress) {
  const auto started = std::chrono::steady_clock::now();
  check_model_fits_data(model, data.channels(), data.height(), data.width(), data.num_classes());
  const int num_layers = model.num_layers();
  if (num_layers == 0) {
    throw Error("the model " + model.architecture() +
                " has no generalized layers to analyse (only its logits can be used)");
  }
  const int64_t classes = data.num_classes();
  const int64_t n_train = data.train.size();
  AnalysisResult result;
  result.model = model.architecture();
  result.dataset = data.name + " (" + data.source + ")";
  result.settings = settings;
  const int64_t per_a = settings.per_class_a > 0 ? settings.per_class_a : std::max<int64_t>(1, 5000 / classes);
  const int64_t per_b = settings.per_class_b > 0 ? settings.per_class_b
                                                 : std::max<int64_t>(1, std::min<int64_t>(500, n_train / classes));
  const Sample a = take(data.train, balanced_subset(data.train.labels, classes, per_a, settings.seed));
  const Sample b = take(data.train, balanced_subset(data.train.labels, classes, per_b, mix_seed(settings.seed, 1)));
  const auto geo_idx = torch::tensor(
      balanced_subset(a.labels, classes, std::max<int64_t>(1, settings.geometry_samples / classes),
                      mix_seed(settings.seed, 2)),
      torch::kInt64);  // a class-balanced part of A (A itself is grouped by class)
  result.sample_a = a.labels.size(0);
  result.sample_b = b.labels.size(0);
  result.n_train = n_train;
  const torch::Device device = resolve_device(settings.device);
  result.device = describe_device(device);
  const ChannelStats stats = compute_channel_stats(data.train);
  const torch::Tensor labels_a = a.labels.to(device), labels_b = b.labels.to(device);
  result.layers.resize(static_cast<size_t>(num_layers));

  // Sample B first, one layer at a time: only its mean class entropy per layer is kept.
  constexpr double kShareB = 0.3;  // rough share of the work, for the progress bar
  std::vector<double> entropy(static_cast<size_t>(num_layers));
  {
    ActivationChain chain(model, b.images, stats, device, settings.batch_size);
    for (int l = 0; l < num_layers; ++l) {
      ScaledProgress p(progress, kShareB * l / num_layers, kShareB * (l + 1) / num_layers,
                       "sample B, ");
      chain.advance(&p);
      entropy[static_cast<size_t>(l)] = mean_class_entropy(chain.flat_features(), labels_b, classes);
    }
  }
  // Then sample A, one layer at a time: the pairwise terms, Q, and the geometry views.
  ActivationChain chain(model, a.images, stats, device, settings.batch_size);
  for (int l = 0; l < num_layers; ++l) {
    const double lo = kShareB + (1 - kShareB) * l / num_layers;
    const double hi = kShareB + (1 - kShareB) * (l + 1) / num_layers;
    ScaledProgress forward(progress, lo, lo + 0.2 * (hi - lo), "sample A, ");
    chain.advance(&forward);
    const torch::Tensor feats = chain.flat_features();
    LayerAnalysis& out = result.layers[static_cast<size_t>(l)];
    out.layer = model.layers()[static_cast<size_t>(l)];
    out.feature_dim = feats.size(1);
    ScaledProgress metric(progress, lo + 0.2 * (hi - lo), hi, "layer " + std::to_string(l) + ", ");
    out.scores = knowledge_quality_from_a(feats, labels_a, classes, n_train,
                                          entropy[static_cast<size_t>(l)], {}, &metric);
    if (settings.geometry_samples > 0) {
      compute_geometry(out, feats.index_select(0, geo_idx.to(device)).to(torch::kCPU),
                       a.labels.index_select(0, geo_idx), classes);
    } else {
      out.twonn_id = out.ncc_accuracy = kNaN;
      out.pca_id = out.rank = -1;
    }
    if (progress != nullptr) {
      progress->progress(hi, "layer " + std::to_string(l) + " done (Q = " +
                                 std::to_string(out.scores.quality) + ")");
    }
  }
  std::vector<QualityScores> scores;
  for (const auto& l : result.layers) scores.push_back(l.scores);
  const int k = std::min(settings.top_k, num_layers);
  result.recommended = select_layers(scores, k, SelectionCriterion::kQuality);
  const std::pair<const char*, SelectionCriterion> criteria[] = {
      {"Q", SelectionCriterion::kQuality},
      {"S", SelectionCriterion::kSeparation},
      {"I", SelectionCriterion::kInformation},
      {"E", SelectionCriterion::kEfficiency},
      {"sqrtIE", SelectionCriterion::kSqrtIE}};
  for (const auto& [name, c] : criteria) result.by_criterion[name] = select_layers(scores, k, c);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace kd
