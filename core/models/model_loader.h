#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "models/layered_model.h"

namespace kd {

/// Where a loaded model came from.
enum class ModelOrigin { kZoo, kModelFile, kTorchScript };

/// A model opened from a spec, with what the user should know about it.
struct LoadedModel {
  std::unique_ptr<LayeredModel> model;
  ModelOrigin origin = ModelOrigin::kZoo;
  std::string source;                           ///< the spec or file path as given
  std::map<std::string, std::string> metadata;  ///< model-file metadata (accuracy, dataset...)
  std::string note;  ///< e.g. how a TorchScript model was partitioned; empty when nothing to say
};

/// Opens a model: a zoo spec ("resnet9:channels=1,size=28"), a KD Studio model file
/// (.kdmodel, safetensors inside) or a TorchScript archive (.pt), recognised by content.
/// `input` gives the input shape of a TorchScript model that does not record it.
/// Throws kd::Error with a message that names the file or spec and the problem.
LoadedModel load_model(const std::string& spec, std::optional<InputShape> input = {});

/// Parses "CxHxW" (e.g. "1x28x28"); throws kd::Error otherwise.
InputShape parse_input_shape(const std::string& text);

/// Human name of an origin: "zoo", "model file", "TorchScript".
const char* origin_name(ModelOrigin origin);

}  // namespace kd
