#pragma once
#include <map>
#include <string>
#include <vector>

#include "analysis/knowledge_quality.h"
#include "common/progress.h"
#include "data/dataset.h"
#include "models/layered_model.h"

namespace kd {

/// Settings of a layer analysis (method.md sections 2 and 3).
struct AnalysisSettings {
  int64_t per_class_a = 0;        ///< sample A per class; 0 = 5000 / classes
  int64_t per_class_b = 0;        ///< sample B per class; 0 = min(500, N_train / classes)
  uint64_t seed = 0;              ///< seeds both class-balanced samples
  int top_k = 4;                  ///< layers recommended
  int64_t geometry_samples = 1000;  ///< rows of sample A for TwoNN, PCA-ID, rank, NCC; 0 = skip
  int64_t batch_size = 256;
  std::string device = "auto";    ///< "auto", "cpu", "cuda", "cuda:N"
};

/// Everything computed for one generalized layer.
struct LayerAnalysis {
  LayerInfo layer;
  int64_t feature_dim = 0;   ///< flattened size used (after max-pooling large maps)
  QualityScores scores;
  double twonn_id = 0;
  int64_t pca_id = 0;
  int64_t rank = 0;
  double ncc_accuracy = 0;
};

/// A whole analysis: per layer scores and the layer choices.
struct AnalysisResult {
  std::string model;      ///< architecture
  std::string dataset;    ///< dataset name and source
  AnalysisSettings settings;
  int64_t sample_a = 0, sample_b = 0, n_train = 0;
  std::vector<LayerAnalysis> layers;
  std::vector<int> recommended;                          ///< top k by Q, depth order
  std::map<std::string, std::vector<int>> by_criterion;  ///< "Q", "S", "I", "E", "sqrtIE"
  std::string device;
  double seconds = 0;
  bool from_cache = false;
};

/// Computes S, I, E, Q and the geometry views for every generalized layer of `model` on the
/// training split of `data`. Each sample is streamed through the model one layer at a time
/// (ActivationChain): the model runs once per sample and only one layer's outputs are held, so
/// peak memory is about the largest layer's activations for sample A, never every layer's.
/// Throws kd::Error when the model does not fit the data or has no generalized layers;
/// kd::Cancelled (within the current layer) when cancelled.
AnalysisResult analyze_layers(LayeredModel& model, const Dataset& data,
                              const AnalysisSettings& settings, ProgressSink* progress = nullptr);

/// Serialises a result (also the CLI's --json output).
std::string analysis_to_json(const AnalysisResult& result, int indent = 2);
/// Reads a result back; throws kd::Error on malformed input.
AnalysisResult analysis_from_json(const std::string& text);

}  // namespace kd
