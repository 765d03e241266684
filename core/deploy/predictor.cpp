#include "deploy/predictor.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/data_spec.h"
#include "data/image_header.h"
#include "data/transforms.h"
#include "deploy/onnx_export.h"
#include "deploy/onnx_file.h"
#include "models/layered_model.h"
#include "models/model_loader.h"
#include "models/scripted_model.h"

namespace kd {

namespace fs = std::filesystem;

namespace {

std::string shape_text(int64_t c, int64_t h, int64_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

DeployInfo pick_info(const std::optional<DeployInfo>& own, const std::optional<DeployInfo>& fallback,
                     const std::string& path) {
  if (own) return *own;
  if (fallback) return *fallback;
  throw Error(path + " carries no preprocessing (mean, std and class names), as teacher files and "
              "students of older runs do: give the data it was trained on (--data SPEC), "
              "or export the run's student again (kdstudio-cli export)");
}

class OnnxPredictor final : public Predictor {
 public:
  OnnxPredictor(const std::string& path, const std::optional<DeployInfo>& fallback) {
    const auto meta = read_onnx_metadata(path);  // first: it names a file that is not ONNX
    std::optional<DeployInfo> own;
    if (DeployInfo::present_in(meta)) own = DeployInfo::from_metadata(meta, path);
    info_ = pick_info(own, fallback, path);
    model_ = std::make_unique<OpenCvOnnxModel>(path);
    runtime_ = "ONNX, OpenCV DNN";
  }

 protected:
  torch::Tensor run(const torch::Tensor& input) override { return model_->forward(input); }

 private:
  std::unique_ptr<OpenCvOnnxModel> model_;
};

class TorchPredictor final : public Predictor {
 public:
  TorchPredictor(const std::string& path, const std::optional<DeployInfo>& fallback) {
    LoadedModel loaded = load_model(path);
    model_ = std::move(loaded.model);
    model_->to(torch::kCPU);
    model_->set_training(false);
    std::optional<DeployInfo> own;
    if (loaded.origin == ModelOrigin::kTorchScript) {
      own = read_torchscript_deploy_info(path);
      runtime_ = "TorchScript, LibTorch";
    } else {
      if (DeployInfo::present_in(loaded.metadata)) own = DeployInfo::from_metadata(loaded.metadata, path);
      runtime_ = "KD Studio model, LibTorch";
    }
    info_ = pick_info(own, fallback, path);
    check_shape(path);
  }

  TorchPredictor(std::shared_ptr<LayeredModel> model, DeployInfo info, std::string runtime, int64_t bytes)
      : model_(std::move(model)) {
    model_->set_training(false);
    info_ = std::move(info);
    runtime_ = std::move(runtime);
    file_bytes_ = bytes;
    check_shape(model_->architecture());
  }

 protected:
  torch::Tensor run(const torch::Tensor& input) override {
    torch::NoGradGuard no_grad;
    return model_->forward(input);
  }

 private:
  void check_shape(const std::string& name) {
    const InputShape in = model_->input_shape();
    if (in.channels != info_.channels || in.height != info_.height || in.width != info_.width) {
      throw Error(name + " takes " + shape_text(in.channels, in.height, in.width) +
                  " inputs but its preprocessing is for " + shape_text(info_.channels, info_.height, info_.width));
    }
    if (info_.architecture.empty()) info_.architecture = model_->architecture();
  }

  std::shared_ptr<LayeredModel> model_;
};

}  // namespace

std::unique_ptr<Predictor> Predictor::open(const std::string& path, const std::optional<DeployInfo>& fallback) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path + ": no such model file");
  std::unique_ptr<Predictor> p;
  if (fs::path(path).extension() == ".onnx") {
    p = std::make_unique<OnnxPredictor>(path, fallback);
  } else {
    p = std::make_unique<TorchPredictor>(path, fallback);
  }
  p->file_bytes_ = static_cast<int64_t>(fs::file_size(path, ec));
  if (static_cast<int64_t>(p->info_.class_names.size()) == 0) {
    throw Error(path + ": its preprocessing names no classes");
  }
  return p;
}

std::unique_ptr<Predictor> Predictor::wrap(std::shared_ptr<LayeredModel> model, DeployInfo info,
                                           std::string runtime, int64_t bytes) {
  return std::make_unique<TorchPredictor>(std::move(model), std::move(info), std::move(runtime), bytes);
}

torch::Tensor Predictor::logits(const torch::Tensor& pixels) {
  torch::Tensor x = pixels.to(torch::kFloat);
  if (info_.input_transform != "baked") {
    const auto shape = std::vector<int64_t>{1, info_.channels, 1, 1};
    torch::Tensor std = torch::tensor(info_.std).reshape(shape);
    std = torch::where(std == 0, torch::ones_like(std), std);
    x = (x - torch::tensor(info_.mean).reshape(shape)) / std;
  }
  torch::Tensor out = run(x);
  if (out.dim() != 2 || out.size(0) != pixels.size(0)) {
    throw Error("the model returned a tensor of shape " + std::to_string(out.dim()) +
                "-D instead of (batch, classes)");
  }
  if (out.size(1) != static_cast<int64_t>(info_.class_names.size())) {
    throw Error("the model gives " + std::to_string(out.size(1)) + " classes but its preprocessing names " +
                std::to_string(info_.class_names.size()));
  }
  return out;
}

torch::Tensor read_image_for(const std::string& path, const DeployInfo& info, ImageFit fit) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path + ": no such image file");
  cv::Mat img;
  try {
    check_image_header(path);  // before the decoder allocates what the header claims
    img = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(path + " is not an image file OpenCV can read (" + std::string(e.what()) + ")");
  }
  if (img.empty()) throw Error(path + " is not an image file OpenCV can read (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM)");
  if (img.depth() != CV_8U) {
    throw Error(path + " has " + std::to_string(8 * img.elemSize1()) +
                "-bit channels; only 8-bit images are supported");
  }
  const int channels = img.channels();
  if (channels != info.channels && !fit.convert) {
    auto describe = [](int64_t c) {
      return std::to_string(c) + (c == 1 ? " channel (grey)" : c == 3 ? " channels (colour)" : " channels");
    };
    throw Error(path + " has " + describe(channels) + " but the model takes " + describe(info.channels) +
                " (--fit converts it)");
  }
  if ((img.rows != info.height || img.cols != info.width) && !fit.convert) {
    throw Error(path + " is " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
                " pixels but the model takes " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                " (--fit resizes it)");
  }
  cv::Mat conv;
  if (info.channels == 1) {
    if (channels == 1) {
      conv = img;
    } else {
      cv::cvtColor(img, conv, channels == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    }
  } else if (info.channels == 3) {
    if (channels == 1) {
      cv::cvtColor(img, conv, cv::COLOR_GRAY2RGB);
    } else {
      cv::cvtColor(img, conv, channels == 4 ? cv::COLOR_BGRA2RGB : cv::COLOR_BGR2RGB);
    }
  } else {
    throw Error("models with " + std::to_string(info.channels) + " input channels cannot read image files");
  }
  if (conv.rows != info.height || conv.cols != info.width) {
    // As the image-folder reader resizes: INTER_AREA when shrinking, INTER_LINEAR when enlarging.
    const bool shrinking = conv.cols > info.width || conv.rows > info.height;
    cv::Mat resized;
    cv::resize(conv, resized, cv::Size(static_cast<int>(info.width), static_cast<int>(info.height)), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    conv = resized;
  }
  conv = conv.clone();  // continuous
  torch::Tensor t = torch::from_blob(conv.data, {conv.rows, conv.cols, conv.channels()}, torch::kUInt8);
  return t.permute({2, 0, 1}).to(torch::kFloat).div(255.0).contiguous();
}

std::vector<std::vector<std::pair<int64_t, float>>> top_k(const torch::Tensor& logits, int64_t k) {
  const torch::Tensor p = torch::softmax(logits.to(torch::kFloat), 1);
  k = std::min<int64_t>(std::max<int64_t>(k, 1), p.size(1));
  const auto [values, indices] = p.topk(k, 1);
  std::vector<std::vector<std::pair<int64_t, float>>> out(static_cast<size_t>(p.size(0)));
  for (int64_t i = 0; i < p.size(0); ++i) {
    for (int64_t j = 0; j < k; ++j) {
      out[i].emplace_back(indices[i][j].item<int64_t>(), values[i][j].item<float>());
    }
  }
  return out;
}

std::vector<Prediction> predict_files(Predictor& predictor, const std::vector<std::string>& images, int64_t k,
                                      int64_t batch, ImageFit fit) {
  std::vector<torch::Tensor> pixels;
  for (const auto& path : images) pixels.push_back(read_image_for(path, predictor.info(), fit));
  std::vector<Prediction> out;
  batch = std::max<int64_t>(batch, 1);
  for (size_t first = 0; first < pixels.size(); first += static_cast<size_t>(batch)) {
    const size_t last = std::min(pixels.size(), first + static_cast<size_t>(batch));
    const std::vector<torch::Tensor> chunk(pixels.begin() + first, pixels.begin() + last);
    const auto tops = top_k(predictor.logits(torch::stack(chunk)), k);
    for (size_t i = first; i < last; ++i) out.push_back({images[i], tops[i - first]});
  }
  return out;
}

DeployInfo preprocessing_from_dataset(const std::string& data_spec) {
  const Dataset data = load_dataset(data_spec);
  const ChannelStats stats = compute_channel_stats(data.train);
  DeployInfo info;
  info.channels = data.channels();
  info.height = data.height();
  info.width = data.width();
  info.mean = stats.mean;
  info.std = stats.std;
  info.class_names = data.class_names;
  info.dataset = data.name;
  return info;
}

TimedPredictions predict_one_by_one(Predictor& predictor, const torch::Tensor& pixels, int64_t k) {
  TimedPredictions out;
  if (pixels.size(0) == 0) return out;
  predictor.logits(pixels.slice(0, 0, 1));  // warm-up: first-call allocations, lazy init
  std::vector<torch::Tensor> logits;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < pixels.size(0); ++i) logits.push_back(predictor.logits(pixels.slice(0, i, i + 1)));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.ms_per_image = 1000.0 * seconds / static_cast<double>(pixels.size(0));
  out.top = top_k(torch::cat(logits), k);
  return out;
}

std::optional<DeployInfo> read_torchscript_deploy_info(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    const std::string record = std::string("extra/") + kTorchScriptMetaFile;
    if (!reader.hasRecord(record)) return std::nullopt;
    auto [data, size] = reader.getRecord(record);
    const std::string text(static_cast<const char*>(data.get()), size);
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) throw Error(path + ": its " + std::string(kTorchScriptMetaFile) + " is not a JSON object");
    std::map<std::string, std::string> meta;
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) meta[k] = v.get<std::string>();
    }
    if (!DeployInfo::present_in(meta)) return std::nullopt;
    return DeployInfo::from_metadata(meta, path);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path + ": cannot read it as a TorchScript archive: " + e.what());
  }
}

}  // namespace kd
