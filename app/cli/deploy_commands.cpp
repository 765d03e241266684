#include "deploy_commands.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "deploy/predictor.h"
#include "deploy/student_export.h"
#include "text_table.h"

namespace kd::cli {

namespace {

struct ExportArgs {
  std::string dir, format, out;
  int64_t seed = -1;
  bool bake = false;
};

struct PredictArgs {
  std::string model, data;
  std::vector<std::string> images;
  int64_t top = 3, batch = 64;
  bool json = false, fit = false;
};

std::string percent1(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * p);
  return buf;
}

std::string size_text(int64_t bytes) {
  char buf[32];
  if (bytes >= (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1048576.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f KB", bytes / 1024.0);
  }
  return buf;
}

void run_export(const ExportArgs& a) {
  StudentExportOptions o;
  o.format = a.format;
  o.bake = a.bake;
  if (a.seed >= 0) o.seed = static_cast<uint64_t>(a.seed);
  const StudentExportReport r = export_student(a.dir, a.out, o);
  const DeployInfo& i = r.info;
  std::cout << "wrote " << a.out << " (" << a.format << ")\n"
            << "  input: " << i.channels << "x" << i.height << "x" << i.width << ", "
            << (a.bake ? "pixels in [0, 1] (standardization baked in)" : "(pixels in [0, 1] - mean) / std")
            << "\n  classes: " << i.class_names.size() << " (" << i.dataset << ")\n";
  for (const auto& c : r.checks) std::cout << "  " << c << "\n";
}

void run_predict(const PredictArgs& a) {
  std::optional<DeployInfo> fallback;
  if (!a.data.empty()) fallback = preprocessing_from_dataset(a.data);
  const std::unique_ptr<Predictor> p = Predictor::open(a.model, fallback);
  const DeployInfo& info = p->info();
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Prediction> results = predict_files(*p, a.images, a.top, a.batch, ImageFit{a.fit});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double ms_per_image = 1000.0 * seconds / static_cast<double>(std::max<size_t>(results.size(), 1));
  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["runtime"] = p->runtime();
    j["architecture"] = info.architecture;
    j["file_bytes"] = p->file_bytes();
    j["ms_per_image"] = ms_per_image;
    j["predictions"] = nlohmann::json::array();
    for (const Prediction& r : results) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [cls, prob] : r.top) {
        top.push_back({{"class", cls}, {"name", info.class_names[static_cast<size_t>(cls)]}, {"probability", prob}});
      }
      j["predictions"].push_back({{"image", r.image}, {"top", top}});
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << a.model << ": " << info.architecture << " (" << p->runtime() << ", " << size_text(p->file_bytes())
            << ")\n\n";
  std::vector<std::string> headers = {"image"};
  const size_t k = results.empty() ? 0 : results.front().top.size();
  for (size_t i = 0; i < k; ++i) headers.push_back(i == 0 ? "top class" : "#" + std::to_string(i + 1));
  TextTable table(headers);
  for (const Prediction& r : results) {
    std::vector<std::string> row = {r.image};
    for (const auto& [cls, prob] : r.top) row.push_back(info.class_names[static_cast<size_t>(cls)] + " " + percent1(prob));
    table.add_row(row);
  }
  table.print(std::cout);
  char buf[96];
  std::snprintf(buf, sizeof buf, "\n%zu image%s in %.1f ms (%.2f ms per image, batches of %lld, reading included)\n",
                results.size(), results.size() == 1 ? "" : "s", 1000.0 * seconds, ms_per_image,
                static_cast<long long>(a.batch));
  std::cout << buf;
}

}  // namespace

void add_deploy_commands(CLI::App& app, int& exit_code) {
  auto ex = std::make_shared<ExportArgs>();
  CLI::App* exp = app.add_subcommand("export", "Write a run's trained student to a file, with its preprocessing and class names");
  exp->add_option("RUN_DIR", ex->dir, "The run folder")->required()->check(CLI::ExistingDirectory);
  exp->add_option("--format", ex->format,
                  "safetensors or onnx (zoo students), torchscript (students imported from TorchScript)")
      ->required()
      ->check(CLI::IsMember({"safetensors", "torchscript", "onnx"}));
  exp->add_option("--out", ex->out, "Output file")->required();
  exp->add_option("--seed", ex->seed, "Which seed's student (default: the first)")->check(CLI::NonNegativeNumber);
  exp->add_flag("--bake-normalization", ex->bake,
                "ONNX: put (x - mean) / std inside the model, so that it takes pixels in [0, 1]");
  exp->footer(
      "Examples:\n"
      "  kdstudio-cli export runs/ours-1a2b3c4d --format onnx --out student.onnx\n"
      "  kdstudio-cli export runs/ours-1a2b3c4d --format onnx --bake-normalization --out student-raw.onnx\n"
      "  kdstudio-cli export runs/ours-1a2b3c4d --format safetensors --out student.kdmodel\n"
      "  kdstudio-cli export runs/ours-9f8e7d6c --format torchscript --out student.pt\n"
      "Every file carries the input size, the training split's mean and std and the class names\n"
      "(ONNX metadata_props, safetensors metadata, TorchScript extra file kdstudio.json): docs/deploy.md.\n"
      "ONNX files are checked by ONNX's checker and run in OpenCV's DNN module against LibTorch.");
  exp->callback([ex, &exit_code]() {
    run_export(*ex);
    exit_code = 0;
  });

  auto pr = std::make_shared<PredictArgs>();
  CLI::App* pred = app.add_subcommand("predict", "Classify image files with an exported student or a teacher file");
  pred->add_option("MODEL", pr->model, "An exported student (.onnx, .kdmodel, .safetensors, .pt) or a teacher file")
      ->required();
  pred->add_option("IMAGE", pr->images, "Image files (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM)")->required();
  pred->add_option("--top-k", pr->top, "Classes shown per image (default 3)")->check(CLI::Range(1, 1000));
  pred->add_option("--batch", pr->batch, "Images per forward pass (default 64)")->check(CLI::Range(1, 65536));
  pred->add_flag("--json", pr->json, "Print one JSON object");
  pred->add_flag("--fit", pr->fit, "Convert grey/colour and resize images that do not match the model's input");
  pred->add_option("--data", pr->data,
                   "For a file without preprocessing (a teacher, an older student): the data spec it was "
                   "trained on, whose mean, std and class names are used");
  pred->footer(
      "Examples:\n"
      "  kdstudio-cli predict student.onnx shoe.png shirt.png\n"
      "  kdstudio-cli predict student.kdmodel images/*.png --top-k 5 --json\n"
      "  kdstudio-cli predict teacher.kdmodel shoe.png --data fashion-mnist");
  pred->callback([pr, &exit_code]() {
    run_predict(*pr);
    exit_code = 0;
  });
}

}  // namespace kd::cli
