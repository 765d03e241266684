#include "jobs/geometry_job.h"

#include <QElapsedTimer>
#include <QStringList>
#include <algorithm>

#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/transforms.h"
#include "shell/guarded_call.h"
#include "plots/sample_grid.h"

namespace kd::ui {

namespace {

/// PCA-ID threshold: the components reaching 90% explained variance (method.md).
constexpr double kPcaIdThreshold = 0.9;

/// Maps a stage's progress [0,1] onto [from, to] of the whole job; forwards cancellation.
class StageProgress final : public ProgressSink {
 public:
  StageProgress(ProgressSink* outer, double from, double to) : outer_(outer), from_(from), to_(to) {}
  void progress(double fraction, const std::string& message) override {
    if (outer_ != nullptr) outer_->progress(from_ + (to_ - from_) * fraction, message);
  }
  bool cancelled() const override { return outer_ != nullptr && outer_->cancelled(); }

 private:
  ProgressSink* outer_;
  double from_, to_;
};

QVector<double> column(const torch::Tensor& coords, int64_t col) {
  const torch::Tensor c = coords.select(1, col).to(torch::kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return QVector<double>(p, p + c.size(0));
}

void computeMetrics(const torch::Tensor& feats, const torch::Tensor& labels, int64_t classes,
                    GeometryResult& r) {
  r.twonnError = runGuarded([&] { r.twonn = twonn_dimension(feats); });
  r.pcaIdError = runGuarded([&] { r.pcaId = pca_intrinsic_dimension(feats, kPcaIdThreshold); });
  r.nccError = runGuarded([&] { r.ncc = ncc_accuracy(feats, labels, classes); });
}

void run(const GeometryRequest& q, ProgressSink* progress, GeometryResult& r) {
  if (!q.model || !q.model->model) throw Error("no model is loaded: open one on the Models page");
  if (!q.dataset) throw Error("no dataset is loaded: open one on the Data page");
  LayeredModel& model = *q.model->model;
  const Dataset& data = *q.dataset;
  check_model_fits_data(model, data.channels(), data.height(), data.width(), data.num_classes());
  if (q.layer < 0 || q.layer >= model.num_layers()) {
    throw Error("layer " + std::to_string(q.layer) + " is out of range for " +
                model.architecture() + " (layers 0.." + std::to_string(model.num_layers() - 1) +
                ")");
  }
  r.layerText = layerLabel(model, q.layer);
  const int64_t classes = data.num_classes();
  const auto idx = balanced_subset(data.train.labels, classes, q.perClass, q.seed);
  const torch::Tensor t_idx = torch::tensor(idx, torch::kInt64);
  const torch::Tensor labels = data.train.labels.index_select(0, t_idx);
  const torch::Tensor images = data.train.images.index_select(0, t_idx);
  const double featuresEnd = q.tsne ? 0.3 : 0.8;
  StageProgress featureStage(progress, 0.0, featuresEnd);
  const torch::Tensor feats =
      extract_features(model, images, compute_channel_stats(data.train), {q.layer}, {},
                       &featureStage)[0]
          .to(torch::kCPU);
  r.featureDim = feats.size(1);
  throw_if_cancelled(progress);
  if (progress != nullptr) progress->progress(featuresEnd, "TwoNN, PCA-ID and NCC");
  computeMetrics(feats, labels, classes, r);
  throw_if_cancelled(progress);

  Projection p;
  if (q.tsne) {
    TsneOptions t;
    t.perplexity = q.perplexity;
    t.iterations = q.iterations;
    t.seed = q.seed;
    // "auto" learning rate (Belkina et al. 2019), as the CLI: 200 overshoots on small samples.
    t.learning_rate = std::max(static_cast<double>(idx.size()) / 48.0, 50.0);
    StageProgress tsneStage(progress, featuresEnd, 1.0);
    p = tsne_projection(feats, labels, classes, t, &tsneStage);
  } else {
    p = pca_projection(feats, labels, classes, 2);
    r.explainedVariance = QVector<double>(p.explained_variance_ratio.begin(),
                                          p.explained_variance_ratio.end());
  }
  r.x = column(p.coords, 0);
  r.y = column(p.coords, 1);
  r.centerX = column(p.centers, 0);
  r.centerY = column(p.centers, 1);
  const torch::Tensor l = labels.contiguous();
  for (int64_t i = 0; i < l.size(0); ++i) {
    r.labels.append(static_cast<int>(l[i].item<int64_t>()));
    r.samples.append(idx[static_cast<size_t>(i)]);
    r.images.append(tensorToImage(images[i]));
  }
  for (const auto& name : data.class_names) r.classNames.append(QString::fromStdString(name));
  if (progress != nullptr) progress->progress(1.0, "done");
}

}  // namespace

QString layerLabel(const LayeredModel& model, int layer) {
  const LayerInfo& info = model.layers().at(static_cast<size_t>(layer));
  QStringList dims;
  for (int64_t d : info.shape) dims.append(QString::number(d));
  return QStringLiteral("%1: %2 (%3)")
      .arg(layer)
      .arg(QString::fromStdString(info.name), dims.join(QChar(0x00D7)));
}

GeometryResult computeGeometry(const GeometryRequest& request, ProgressSink* progress) {
  GeometryResult r;
  r.job = request.job;
  r.modelRole = request.modelRole;
  r.layer = request.layer;
  r.tsne = request.tsne;
  QElapsedTimer clock;
  clock.start();
  r.error = runGuarded([&] {
    try {
      run(request, progress, r);
    } catch (const Cancelled&) {
      r.cancelled = true;
    }
  });
  if (!r.error.isEmpty() || r.cancelled) r.x.clear();  // a partial result is never drawn
  r.seconds = clock.elapsed() / 1000.0;
  return r;
}

}  // namespace kd::ui
