#pragma once
// Classifying image files with a deployed model (kdstudio-cli predict, the app's "Try it"):
// an ONNX export (OpenCV DNN), a KD Studio model file or a TorchScript archive (LibTorch).
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deploy/deploy_info.h"

namespace kd {

class LayeredModel;

/// A model file opened for inference, with its preprocessing and labels.
class Predictor {
 public:
  virtual ~Predictor() = default;
  /// Opens `path` (.onnx, .kdmodel / .safetensors, .pt; recognised by content). Its
  /// preprocessing and labels come from the file; `fallback` supplies them for a file that
  /// carries none (a teacher or an older student: e.g. from the data it was trained on).
  /// Throws kd::Error naming the file and what is missing or wrong.
  static std::unique_ptr<Predictor> open(const std::string& path,
                                         const std::optional<DeployInfo>& fallback = std::nullopt);

  /// A model already in memory (e.g. the app's teacher), with its preprocessing. `bytes` is
  /// what its file takes (0 when unknown). The model is put in eval mode and run without gradients.
  static std::unique_ptr<Predictor> wrap(std::shared_ptr<LayeredModel> model, DeployInfo info,
                                         std::string runtime, int64_t bytes);

  const DeployInfo& info() const { return info_; }
  /// What runs it, e.g. "ONNX, OpenCV DNN" or "TorchScript, LibTorch".
  const std::string& runtime() const { return runtime_; }
  /// Size of the file in bytes.
  int64_t file_bytes() const { return file_bytes_; }

  /// Logits (B, classes) for images (B, C, H, W) as float pixels in [0, 1]: the model's
  /// standardization is applied first unless it is baked into the model.
  torch::Tensor logits(const torch::Tensor& pixels);

 protected:
  /// Logits for input already in the model's own input space.
  virtual torch::Tensor run(const torch::Tensor& input) = 0;

  DeployInfo info_;
  std::string runtime_;
  int64_t file_bytes_ = 0;
};

/// How image files are fitted to a model's input.
struct ImageFit {
  /// false: an image of another size or channel count is an error naming both; true: it is
  /// converted (grey <-> colour) and resized, as the image-folder reader does when training.
  bool convert = false;
};

/// Reads an image file (PNG, JPEG, BMP, ...; 8 bits per channel) as float (C, H, W) in [0, 1],
/// RGB order, fitted to `info`'s input. Throws kd::Error naming the file and the problem.
torch::Tensor read_image_for(const std::string& path, const DeployInfo& info, ImageFit fit = {});

/// One image's result: the top classes with their softmax probabilities, best first.
struct Prediction {
  std::string image;
  std::vector<std::pair<int64_t, float>> top;
};

/// Top-k of softmax(logits) for each row.
std::vector<std::vector<std::pair<int64_t, float>>> top_k(const torch::Tensor& logits, int64_t k);

/// Reads every image first (so that a bad one stops the run before any output), then classifies
/// them in batches of `batch`.
std::vector<Prediction> predict_files(Predictor& predictor, const std::vector<std::string>& images,
                                      int64_t k, int64_t batch, ImageFit fit = {});

/// Preprocessing and class names from a dataset (its training split's mean and std, its image
/// shape): for model files that carry none, such as a teacher. Throws kd::Error for a bad spec.
DeployInfo preprocessing_from_dataset(const std::string& data_spec);

/// Top-k of images (B, C, H, W) in [0, 1] run one at a time, as an application classifies what
/// a user gives it, and the mean wall time per image (after one warm-up image).
struct TimedPredictions {
  std::vector<std::vector<std::pair<int64_t, float>>> top;
  double ms_per_image = 0;
};
TimedPredictions predict_one_by_one(Predictor& predictor, const torch::Tensor& pixels, int64_t k);

/// The DeployInfo stored in a TorchScript archive's extra file kdstudio.json, if any.
std::optional<DeployInfo> read_torchscript_deploy_info(const std::string& path);

}  // namespace kd
