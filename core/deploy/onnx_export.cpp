#include "deploy/onnx_export.h"

#include <torch/torch.h>

#include "common/error.h"
#include "deploy/onnx_file.h"
#include "deploy/torchscript_onnx.h"
#include "models/layered_model.h"
#include "models/scripted_model.h"
#include "models/zoo/zoo_model.h"

#ifdef KD_WITH_OPENCV_DNN
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include <mutex>
#endif

namespace kd {

OnnxGraph build_onnx_graph(LayeredModel& model, const DeployInfo& info, bool bake) {
  auto* zoo = dynamic_cast<zoo::ZooModel*>(&model);
  auto* scripted = dynamic_cast<ScriptedModel*>(&model);
  if (!zoo && !scripted) throw Error("ONNX export takes zoo and TorchScript students, not " + model.architecture());
  const InputShape in = model.input_shape();
  if (in.channels != info.channels || in.height != info.height || in.width != info.width) {
    throw Error("the preprocessing is for " + std::to_string(info.channels) + "x" + std::to_string(info.height) +
                "x" + std::to_string(info.width) + " inputs but " + model.architecture() + " takes " +
                std::to_string(in.channels) + "x" + std::to_string(in.height) + "x" + std::to_string(in.width));
  }
  OnnxGraph g("input", in.channels, in.height, in.width);
  std::string x = g.input();
  if (bake) {  // x * (1 / std) - mean / std per channel, as a depthwise 1x1 convolution
    std::vector<float> scale, shift;
    for (size_t c = 0; c < info.mean.size(); ++c) {
      const double s = info.std[c] == 0.0f ? 1.0 : info.std[c];  // as to_normalized_float
      scale.push_back(static_cast<float>(1.0 / s));
      shift.push_back(static_cast<float>(-info.mean[c] / s));
    }
    x = g.conv(x, torch::tensor(scale).reshape({in.channels, 1, 1, 1}), torch::tensor(shift), 1, 0, in.channels);
  }
  if (zoo) {
    zoo::ZooNetwork& net = zoo->network();
    for (const auto& block : net->blocks) x = block->to_onnx(g, x);
    x = net->classifier->to_onnx(g, x);
  } else {
    x = append_torchscript_onnx(*scripted, g, x);
  }
  g.set_output(x, model.num_classes());
  return g;
}

void export_onnx(LayeredModel& model, DeployInfo info, bool bake, const std::string& path) {
  torch::NoGradGuard no_grad;
  const OnnxGraph g = build_onnx_graph(model, info, bake);
  info.input_transform = bake ? "baked" : "standardize";
  if (info.architecture.empty()) info.architecture = model.architecture();
  write_onnx(g, info.to_metadata(), "kdstudio_student", path);
}

#ifdef KD_WITH_OPENCV_DNN

struct OpenCvOnnxModel::Impl {
  cv::dnn::Net net;
};

namespace {

/// OpenCV's message without its trailing newline.
std::string cv_message(const cv::Exception& e) {
  std::string m = e.what();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

bool opencv_dnn_available() { return true; }

OpenCvOnnxModel::OpenCvOnnxModel(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  // OpenCV also logs the errors it throws, on stderr; we report them ourselves.
  static std::once_flag quiet;
  std::call_once(quiet, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
  try {
    impl_->net = cv::dnn::readNetFromONNX(path);
  } catch (const cv::Exception& e) {
    throw Error("OpenCV's DNN module cannot read " + path + ": " + cv_message(e));
  }
  if (impl_->net.empty()) throw Error("OpenCV's DNN module read no network from " + path);
  impl_->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  impl_->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
}

OpenCvOnnxModel::~OpenCvOnnxModel() = default;

torch::Tensor OpenCvOnnxModel::forward(const torch::Tensor& input) {
  const torch::Tensor x = input.to(torch::kCPU, torch::kFloat).contiguous();
  if (x.dim() != 4) throw Error("OpenCV DNN input must be (batch, channels, height, width)");
  const std::vector<int> dims(x.sizes().begin(), x.sizes().end());
  const cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, x.data_ptr<float>());
  cv::Mat out;
  try {
    impl_->net.setInput(blob);
    out = impl_->net.forward();
  } catch (const cv::Exception& e) {
    throw Error("OpenCV's DNN module cannot run " + path_ + ": " + cv_message(e));
  }
  const int64_t rows = x.size(0);
  if (out.total() % static_cast<size_t>(rows) != 0) {
    throw Error("OpenCV's DNN module returned " + std::to_string(out.total()) + " values for " +
                std::to_string(rows) + " images from " + path_);
  }
  const int64_t cols = static_cast<int64_t>(out.total()) / rows;
  return torch::from_blob(out.ptr<float>(), {rows, cols}, torch::kFloat).clone();
}

#else

struct OpenCvOnnxModel::Impl {};

bool opencv_dnn_available() { return false; }

OpenCvOnnxModel::OpenCvOnnxModel(const std::string& path) : path_(path) {
  throw Error("this build of KD Studio has no OpenCV DNN module (libopencv-dnn-dev) to run " + path);
}
OpenCvOnnxModel::~OpenCvOnnxModel() = default;
torch::Tensor OpenCvOnnxModel::forward(const torch::Tensor&) { return {}; }

#endif

}  // namespace kd
