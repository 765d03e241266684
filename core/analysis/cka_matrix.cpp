#include "analysis/cka_matrix.h"

#include "analysis/feature_extractor.h"
#include "common/device.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/transforms.h"

namespace kd {

namespace {

/// Memory for the features of one group of layers while their Grams are formed.
constexpr int64_t kGroupBudgetBytes = int64_t{512} << 20;

std::vector<torch::Tensor> layer_grams(LayeredModel& model, const torch::Tensor& images,
                                       const ChannelStats& stats, const ExtractOptions& extract,
                                       ProgressSink* progress, double lo, double hi) {
  if (model.num_layers() == 0) {
    throw Error("the model " + model.architecture() + " has no generalized layers for CKA");
  }
  std::vector<torch::Tensor> grams;
  for (const auto& group : group_layers_by_memory(model.layers(), images.size(0), kGroupBudgetBytes)) {
    throw_if_cancelled(progress);
    const auto feats = extract_features(model, images, stats, group, extract);
    for (const auto& f : feats) grams.push_back(centered_gram(f));
    if (progress != nullptr) {
      const double f = static_cast<double>(grams.size()) / model.num_layers();
      progress->progress(lo + (hi - lo) * f, model.architecture() + ": layer " +
                                                 std::to_string(grams.size()) + "/" +
                                                 std::to_string(model.num_layers()));
    }
  }
  return grams;
}

}  // namespace

torch::Tensor centered_gram(const torch::Tensor& features) {
  const torch::Tensor x = features.to(torch::kFloat64);
  const torch::Tensor centered = x - x.mean(0, true);
  return torch::matmul(centered, centered.t());
}

double cka_from_grams(const torch::Tensor& kx, const torch::Tensor& ky) {
  const double num = (kx * ky).sum().item<double>();
  const double den = kx.norm().item<double>() * ky.norm().item<double>();
  return den > 0 ? num / den : 0.0;
}

std::vector<std::vector<double>> cka_matrix(LayeredModel& teacher, LayeredModel& student,
                                            const Dataset& data, const CkaSettings& settings,
                                            ProgressSink* progress) {
  check_model_fits_data(teacher, data.channels(), data.height(), data.width(), data.num_classes());
  check_model_fits_data(student, data.channels(), data.height(), data.width(), data.num_classes());
  const auto idx = torch::tensor(
      balanced_subset(data.train.labels, data.num_classes(), settings.per_class, settings.seed),
      torch::kInt64);
  const torch::Tensor images = data.train.images.index_select(0, idx);
  const ChannelStats stats = compute_channel_stats(data.train);
  ExtractOptions extract;
  extract.batch_size = settings.batch_size;
  extract.device = resolve_device(settings.device);
  const auto kt = layer_grams(teacher, images, stats, extract, progress, 0.0, 0.5);
  const auto ks = layer_grams(student, images, stats, extract, progress, 0.5, 0.95);
  std::vector<std::vector<double>> out(kt.size(), std::vector<double>(ks.size()));
  for (size_t i = 0; i < kt.size(); ++i) {
    for (size_t j = 0; j < ks.size(); ++j) out[i][j] = cka_from_grams(kt[i], ks[j]);
  }
  if (progress != nullptr) progress->progress(1.0, "CKA done");
  return out;
}

}  // namespace kd
