#pragma once
#include <QImage>
#include <QString>
#include <QStringList>
#include <QVector>
#include <memory>

#include "common/progress.h"
#include "data/dataset.h"
#include "models/model_loader.h"

namespace kd::ui {

/// What the Geometry page asks its worker to compute: one layer of one model on a
/// class-balanced sample of the dataset's training split.
struct GeometryRequest {
  std::shared_ptr<LoadedModel> model;
  std::shared_ptr<const Dataset> dataset;
  QString modelRole;  ///< "Teacher" or "Student", for the title
  int layer = 0;
  bool tsne = false;   ///< false: PCA
  int perClass = 100;  ///< points per class (fewer where a class has fewer)
  double perplexity = 30;
  int iterations = 1000;  ///< t-SNE iterations
  quint64 seed = 0;       ///< seed of the sample and of t-SNE
  quint64 job = 0;        ///< the page's job id, returned with the result
};

/// The worker's answer: plain CPU copies the GUI draws (no tensors cross into the GUI).
struct GeometryResult {
  quint64 job = 0;
  QString error;           ///< non-empty when the job failed
  bool cancelled = false;  ///< the user cancelled it
  QString modelRole;
  int layer = 0;
  QString layerText;  ///< "3: layers.3 (64×7×7)"
  bool tsne = false;
  QVector<double> x, y;         ///< per point
  QVector<int> labels;          ///< per point, the class
  QVector<qint64> samples;      ///< per point, its index in the training split
  QVector<QImage> images;       ///< per point, the input image
  QVector<double> centerX, centerY;  ///< per class
  QStringList classNames;
  QVector<double> explainedVariance;  ///< PCA: per component, in [0,1]
  double twonn = 0;
  qint64 pcaId = 0;
  double ncc = 0;
  QString twonnError, pcaIdError, nccError;  ///< why a metric is missing (empty when present)
  qint64 featureDim = 0;
  double seconds = 0;
};

/// "index: name (C×H×W)" of a model's generalized layer.
QString layerLabel(const LayeredModel& model, int layer);

/// Runs the request (feature extraction, projection, TwoNN, PCA-ID, NCC) on the calling
/// thread. Never throws: failures and cancellation are reported in the result.
GeometryResult computeGeometry(const GeometryRequest& request, ProgressSink* progress);

}  // namespace kd::ui
