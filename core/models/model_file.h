#pragma once
#include <map>
#include <memory>
#include <string>

#include "models/zoo/zoo_model.h"

namespace kd {

/// File extension of KD Studio model files (a safetensors file with our metadata).
inline constexpr const char* kModelFileExtension = ".kdmodel";
/// Value of the "format" metadata entry that marks a KD Studio model file.
inline constexpr const char* kModelFileFormat = "kdstudio-model";

/// Saves a zoo model to one file holding its architecture (metadata "architecture", a zoo spec)
/// and every parameter and buffer under its state-dict name (docs/model-files.md). The file is
/// plain safetensors, so it is also the safetensors export that PyTorch users load. Extra
/// metadata (e.g. "test_accuracy", "dataset") is stored alongside. Written atomically.
void save_zoo_model(zoo::ZooModel& model, const std::string& path,
                    const std::map<std::string, std::string>& metadata = {});

/// A model read back from a file, with the metadata it was saved with.
struct LoadedZooModel {
  std::unique_ptr<zoo::ZooModel> model;
  std::map<std::string, std::string> metadata;
};

/// Opens a model file written by save_zoo_model: rebuilds the architecture and loads the
/// weights. Throws kd::Error when the file is not ours, or its tensors do not fit the
/// architecture (names the missing, unexpected or mis-shaped tensors).
LoadedZooModel load_zoo_model(const std::string& path);

}  // namespace kd
