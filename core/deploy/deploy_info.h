#pragma once
// What a deployed model needs besides its weights: the input it takes, the standardization it
// was trained with, its class names and where it came from. Carried in every export (safetensors
// metadata, TorchScript extra files, ONNX metadata_props) under the same keys (docs/deploy.md).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kd {

struct ChannelStats;

/// Preprocessing, labels and provenance of a model.
struct DeployInfo {
  int64_t channels = 0, height = 0, width = 0;  ///< input: channels x height x width
  std::vector<float> mean, std;                 ///< per channel, of pixels scaled to [0, 1]
  std::vector<std::string> class_names;         ///< index = class
  /// "standardize": the model takes (x - mean) / std of pixels in [0, 1];
  /// "baked": the standardization is inside the model, which takes pixels in [0, 1].
  std::string input_transform = "standardize";
  std::string architecture, dataset, experiment, method;  ///< provenance (may be empty)
  std::optional<double> test_accuracy;                    ///< in percent, when known

  /// The metadata entries (keys "kd.input", "kd.mean", ... ; values are text or JSON).
  std::map<std::string, std::string> to_metadata() const;
  /// True when `metadata` holds the preprocessing keys (an export or a new run's student).
  static bool present_in(const std::map<std::string, std::string>& metadata);
  /// Reads the entries back; throws kd::Error naming `source` and the bad entry.
  static DeployInfo from_metadata(const std::map<std::string, std::string>& metadata,
                                  const std::string& source);
  /// The standardization as ChannelStats (what the data pipeline applies).
  ChannelStats stats() const;
};

}  // namespace kd
