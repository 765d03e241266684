#include "deploy/student_export.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/core/version.hpp>

#include "common/error.h"
#include "data/data_spec.h"
#include "data/transforms.h"
#include "deploy/onnx_export.h"
#include "deploy/onnx_file.h"
#include "distill/method.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "io/safetensors.h"
#include "io/text_file.h"
#include "models/model_file.h"
#include "models/scripted_model.h"

namespace kd {

namespace fs = std::filesystem;

namespace {

/// Random pixels for the export check: fixed, so that a check can be repeated.
constexpr int64_t kCheckImages = 16;
/// OpenCV's logits must match LibTorch's within this share of the largest logit (at least 1):
/// float32 sums in another order, and BatchNorm folded in double then rounded.
constexpr double kCheckTolerance = 1e-4;

std::string number(double v, const char* format = "%.3g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

DeployInfo make_deploy_info(LayeredModel& student, const ChannelStats& stats,
                            const std::vector<std::string>& class_names, const std::string& dataset,
                            const std::string& method, const std::string& run_dir,
                            std::optional<double> test_accuracy) {
  DeployInfo info;
  const InputShape in = student.input_shape();
  info.channels = in.channels;
  info.height = in.height;
  info.width = in.width;
  info.mean = stats.mean;
  info.std = stats.std;
  info.class_names = class_names;
  info.architecture = student.architecture();
  info.dataset = dataset;
  info.method = method;
  info.experiment = fs::path(run_dir).lexically_normal().filename().string();
  if (info.experiment.empty()) info.experiment = fs::path(run_dir).parent_path().filename().string();
  info.test_accuracy = test_accuracy;
  return info;
}

OnnxCheck check_onnx_with_opencv(const std::string& onnx_path, LayeredModel& model, const torch::Tensor& pixels,
                                 const DeployInfo& info, bool baked) {
  torch::NoGradGuard no_grad;
  const auto shape = std::vector<int64_t>{1, info.channels, 1, 1};
  torch::Tensor std = torch::tensor(info.std).reshape(shape);
  std = torch::where(std == 0, torch::ones_like(std), std);
  const torch::Tensor standardized = (pixels - torch::tensor(info.mean).reshape(shape)) / std;
  model.set_training(false);
  const torch::Tensor expected = model.forward(standardized).to(torch::kFloat);
  OpenCvOnnxModel runtime(onnx_path);
  const torch::Tensor got = runtime.forward(baked ? pixels : standardized);
  if (got.sizes() != expected.sizes()) {
    throw Error("OpenCV's DNN module returned logits of another shape than LibTorch for " + onnx_path);
  }
  return {(got - expected).abs().max().item<double>(), expected.abs().max().item<double>()};
}

torch::Tensor check_pixels(int64_t n, int64_t channels, int64_t height, int64_t width) {
  // Fixed pixels in [0, 1) (a golden-ratio sequence), the same on every run and platform.
  const torch::Tensor i = torch::arange(n * channels * height * width, torch::kDouble);
  return torch::frac(i * 0.6180339887498949).to(torch::kFloat).reshape({n, channels, height, width});
}

StudentExportReport export_student(const std::string& run_dir, const std::string& out,
                                   const StudentExportOptions& options) {
  const std::string resolved_path = run_dir + "/" + kRunResolvedFile;
  if (!fs::exists(resolved_path)) {
    throw Error(run_dir + " is not a KD Studio run folder (it has no " + kRunResolvedFile + ")");
  }
  const std::string& format = options.format;
  if (format != "safetensors" && format != "torchscript" && format != "onnx") {
    throw Error("unknown export format '" + format + "' (use safetensors, torchscript or onnx)");
  }
  if (options.bake && format != "onnx") {
    throw Error("--bake-normalization is for ONNX exports (the other formats carry the mean and std "
                "in their metadata)");
  }
  const fs::path folder = fs::path(out).parent_path();
  if (!folder.empty() && !fs::is_directory(folder)) {
    throw Error("cannot write " + out + ": the folder " + folder.string() + " does not exist");
  }
  const ExperimentConfig c = experiment_from_json(read_text_file(resolved_path), resolved_path);
  if (c.method == Method::kSimKD) {
    throw Error("a SimKD student predicts through its projector and a trained copy of the "
                "teacher's tail, which one student file cannot hold; SimKD runs cannot be exported");
  }
  const uint64_t s = options.seed.value_or(c.seed);
  if (s < c.seed || s >= c.seed + static_cast<uint64_t>(c.seeds)) {
    throw Error(run_dir + " has no seed " + std::to_string(s) + " (its seeds are " + std::to_string(c.seed) +
                " to " + std::to_string(c.seed + c.seeds - 1) + ")");
  }
  const std::string dir = run_dir + "/" + seed_folder_name(s);
  const std::string zoo_file = dir + "/" + kStudentModelFile;
  const std::string script_file = dir + "/" + kStudentScriptFile;
  const bool scripted = fs::exists(script_file);
  if (format == "safetensors" && scripted) {
    throw Error("this run's student came from TorchScript: export it with --format torchscript or onnx");
  }
  if (format == "torchscript" && fs::exists(zoo_file)) {
    throw Error("this run's student is a zoo model: export it with --format safetensors or onnx (our "
                "model file is plain safetensors that PyTorch loads; see docs/model-files.md)");
  }
  const std::string source = scripted ? script_file : zoo_file;
  if (!fs::exists(source)) {
    throw Error("seed " + std::to_string(s) + " of " + run_dir + " has no final student yet (has it finished training?)");
  }
  if (format == "onnx" && !onnx_available()) {
    throw Error("this build of KD Studio has no ONNX support (it was built without libonnx-dev)");
  }

  // The student, and its preprocessing: from the file when a new run stored it there, else
  // computed again from the run's dataset (runs made before deployment metadata existed).
  std::unique_ptr<LayeredModel> student;
  std::map<std::string, std::string> meta;
  if (scripted) {
    student = ScriptedModel::load(source);
  } else {
    LoadedZooModel loaded = load_zoo_model(source);
    meta = loaded.metadata;
    student = std::move(loaded.model);
  }
  StudentExportReport report;
  if (DeployInfo::present_in(meta)) {
    report.info = DeployInfo::from_metadata(meta, source);
  } else {
    const Dataset data = load_dataset(c.dataset);
    std::optional<double> accuracy;
    if (meta.count("test_accuracy")) accuracy = std::atof(meta.at("test_accuracy").c_str());
    report.info = make_deploy_info(*student, compute_channel_stats(data.train), data.class_names, data.name,
                                   method_name(c.method), run_dir, accuracy);
  }
  const DeployInfo& info = report.info;

  if (format == "safetensors") {
    SafetensorsContent content = read_safetensors(source);
    for (const auto& [k, v] : info.to_metadata()) content.metadata[k] = v;
    write_safetensors(out, content.tensors, content.metadata);
  } else if (format == "torchscript") {
    static_cast<ScriptedModel&>(*student).save_torchscript(out, info.to_metadata());
  } else {
    // Written beside the target, checked, then renamed: a model that fails the check is never
    // left at `out`.
    const std::string partial = out + ".partial";
    try {
      export_onnx(*student, info, options.bake, partial);
      report.checks.push_back("operators (opset " + std::to_string(kOnnxOpset) + "): " + check_onnx_file(partial));
      report.checks.push_back("ONNX checker and strict shape inference: passed");
      if (opencv_dnn_available()) {
        const torch::Tensor pixels = check_pixels(kCheckImages, info.channels, info.height, info.width);
        std::optional<OnnxCheck> check;
        try {
          check = check_onnx_with_opencv(partial, *student, pixels, info, options.bake);
        } catch (const Error& e) {  // an operator OpenCV cannot run: the checker above stands
          std::string why = e.what();
          for (size_t at; (at = why.find(partial)) != std::string::npos;) why.replace(at, partial.size(), out);
          report.checks.push_back("OpenCV DNN " + std::string(CV_VERSION) + " could not run it (" + why +
                                  "); checked by ONNX's checker and strict shape inference only");
        }
        if (check) {
          const double allowed = kCheckTolerance * std::max(1.0, check->max_logit);
          if (!(check->max_difference <= allowed)) {
            throw Error("the exported model's logits differ from LibTorch's by up to " +
                        number(check->max_difference) + " in OpenCV's DNN module (allowed " + number(allowed) +
                        "); nothing was written");
          }
          report.checks.push_back("OpenCV DNN matches LibTorch on " + std::to_string(kCheckImages) +
                                  " fixed images: largest logit difference " + number(check->max_difference) +
                                  " (allowed " + number(allowed) + ")");
        }
      } else {
        report.checks.push_back("OpenCV DNN: not in this build; not run");
      }
      std::error_code ec;
      fs::rename(partial, out, ec);
      if (ec) throw Error("cannot write " + out + ": " + ec.message());
    } catch (...) {
      std::error_code ec;
      fs::remove(partial, ec);
      throw;
    }
  }
  return report;
}

}  // namespace kd
