#include "analysis_commands.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/analysis_cache.h"
#include "analysis/cka_matrix.h"
#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "analysis/layer_analyzer.h"
#include "common/device.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "data/data_spec.h"
#include "data/transforms.h"
#include "io/atomic_file.h"
#include "models/model_loader.h"
#include "terminal_progress.h"
#include "text_table.h"

namespace kd::cli {

namespace {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string join(const std::vector<int>& v) {
  std::string t;
  for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + std::to_string(v[i]);
  return t;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t;
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? "x" : "") + std::to_string(shape[i]);
  return t;
}

struct AnalyzeOptions {
  std::string model, data = "fashion-mnist", device = "auto";
  int64_t per_class = 0, per_class_b = 0, geometry = 1000, batch = 256;
  uint64_t seed = 0;
  int top_k = 4;
  bool json = false, no_cache = false;
};

void print_analysis(const AnalysisResult& r) {
  std::cout << "Model:   " << r.model << "\nDataset: " << r.dataset << "\nSamples: A " << r.sample_a
            << ", B " << r.sample_b << " (seed " << r.settings.seed << "), on " << r.device
            << (r.from_cache ? ", from the cache" : "") << ", " << fixed(r.seconds, 1) << " s\n\n";
  TextTable table({">#", "name", "shape", ">S", ">I", ">E", ">Q", ">TwoNN", ">PCA-ID", ">NCC %", ""});
  for (const auto& l : r.layers) {
    const bool rec = std::find(r.recommended.begin(), r.recommended.end(), l.layer.index) != r.recommended.end();
    table.add_row({std::to_string(l.layer.index), l.layer.name, shape_text(l.layer.shape),
                   fixed(l.scores.separation, 4), fixed(l.scores.information, 4),
                   fixed(l.scores.efficiency, 4), fixed(l.scores.quality, 4), fixed(l.twonn_id, 1),
                   l.pca_id >= 0 ? std::to_string(l.pca_id) : "-",
                   fixed(100.0 * l.ncc_accuracy, 1), rec ? "*" : ""});
  }
  table.print(std::cout);
  std::cout << "\nRecommended teacher layers (top " << r.recommended.size()
            << " by Q, depth order): " << join(r.recommended) << "\n";
  for (const char* c : {"S", "I", "E", "sqrtIE"}) {
    const auto it = r.by_criterion.find(c);
    if (it != r.by_criterion.end()) std::cout << "  ablation by " << c << ": " << join(it->second) << "\n";
  }
}

void run_analyze(const AnalyzeOptions& o) {
  const LoadedModel model = load_model(o.model);
  const Dataset data = load_dataset(o.data);
  AnalysisSettings s;
  s.per_class_a = o.per_class;
  s.per_class_b = o.per_class_b;
  s.seed = o.seed;
  s.top_k = o.top_k;
  s.geometry_samples = o.geometry;
  s.batch_size = o.batch;
  s.device = o.device;
  check_model_fits_data(*model.model, data.channels(), data.height(), data.width(), data.num_classes());
  const int layers = model.model->num_layers();
  if (layers == 0) {
    throw Error(o.model + " has no generalized layers, so there is nothing to analyse: " +
                (model.note.empty() ? std::string("its layers could not be found") : model.note));
  }
  if (o.top_k < 1) throw Error("--top-k must be at least 1, not " + std::to_string(o.top_k));
  if (o.top_k > layers) {
    std::cerr << "note: " << o.model << " has " << layers << " generalized layer"
              << (layers == 1 ? "" : "s") << ", fewer than --top-k " << o.top_k << ": all "
              << layers << " are recommended\n";
    s.top_k = layers;
  }
  const AnalysisCache cache;
  const std::string key = AnalysisCache::key(model, data, s);
  std::optional<AnalysisResult> result;
  if (!o.no_cache) result = cache.load(key);
  if (!result) {
    TerminalProgress progress("analyze");
    result = analyze_layers(*model.model, data, s, &progress);
    progress.finish();
    cache.store(key, *result);
  }
  if (o.json) {
    std::cout << analysis_to_json(*result) << '\n';
  } else {
    print_analysis(*result);
  }
}

struct ProjectOptions {
  std::string model, data = "fashion-mnist", method = "pca", out, device = "auto";
  int layer = -1, dims = 2;
  int64_t per_class = 100;
  uint64_t seed = 0;
  double perplexity = 30;
};

void run_project(const ProjectOptions& o) {
  const LoadedModel model = load_model(o.model);
  const Dataset data = load_dataset(o.data);
  check_model_fits_data(*model.model, data.channels(), data.height(), data.width(), data.num_classes());
  if (o.layer < 0 || o.layer >= model.model->num_layers()) {
    throw Error("--layer " + std::to_string(o.layer) + " is out of range for " +
                model.model->architecture() + " (layers 0.." +
                std::to_string(model.model->num_layers() - 1) + ")");
  }
  const auto idx = balanced_subset(data.train.labels, data.num_classes(), o.per_class, o.seed);
  const torch::Tensor t_idx = torch::tensor(idx, torch::kInt64);
  const torch::Tensor labels = data.train.labels.index_select(0, t_idx);
  ExtractOptions extract;
  extract.device = resolve_device(o.device);
  TerminalProgress progress("project");
  const auto feats = extract_features(*model.model, data.train.images.index_select(0, t_idx),
                                      compute_channel_stats(data.train), {o.layer}, extract, &progress);
  Projection p;
  if (o.method == "pca") {
    p = pca_projection(feats[0].to(torch::kCPU), labels, data.num_classes(), o.dims);
  } else {
    TsneOptions t;
    t.dims = o.dims;
    t.perplexity = o.perplexity;
    t.seed = o.seed;
    t.theta = o.dims == 2 ? 0.5 : 0.0;
    // "auto" learning rate (Belkina et al. 2019): the default 200 overshoots on small samples.
    t.learning_rate = std::max(static_cast<double>(idx.size()) / 48.0, 50.0);
    p = tsne_projection(feats[0].to(torch::kCPU), labels, data.num_classes(), t, &progress);
  }
  progress.finish();
  std::ostringstream csv;
  csv << "index,label,class" << (o.dims == 3 ? ",x,y,z\n" : ",x,y\n");
  const torch::Tensor c = p.coords.to(torch::kFloat64).contiguous();
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t label = labels[static_cast<int64_t>(i)].item<int64_t>();
    csv << idx[i] << ',' << label << ",\"" << data.class_names[static_cast<size_t>(label)] << '"';
    for (int d = 0; d < o.dims; ++d) csv << ',' << c[static_cast<int64_t>(i)][d].item<double>();
    csv << '\n';
  }
  if (o.out.empty()) {
    std::cout << csv.str();
  } else {
    AtomicFile f(o.out);
    const std::string text = csv.str();
    f.write(text.data(), text.size());
    f.commit();
    std::cerr << "wrote " << idx.size() << " points of layer " << o.layer << " to " << o.out << "\n";
  }
}

struct CkaOptions {
  std::string teacher, student, data = "fashion-mnist", device = "auto";
  int64_t per_class = 50;
  uint64_t seed = 0;
  bool json = false;
};

void run_cka(const CkaOptions& o) {
  const LoadedModel teacher = load_model(o.teacher);
  const LoadedModel student = load_model(o.student);
  const Dataset data = load_dataset(o.data);
  CkaSettings s;
  s.per_class = o.per_class;
  s.seed = o.seed;
  s.device = o.device;
  TerminalProgress progress("cka");
  const auto m = cka_matrix(*teacher.model, *student.model, data, s, &progress);
  progress.finish();
  if (o.json) {
    nlohmann::json j = {{"teacher", teacher.model->architecture()},
                        {"student", student.model->architecture()},
                        {"samples", o.per_class * data.num_classes()},
                        {"cka", m}};
    std::cout << j.dump(2) << '\n';
    return;
  }
  std::cout << "Linear CKA, rows = teacher layers (" << teacher.model->architecture()
            << "), columns = student layers (" << student.model->architecture() << ")\n\n";
  std::vector<std::string> headers = {">t\\s"};
  for (size_t j = 0; j < (m.empty() ? 0 : m[0].size()); ++j) headers.push_back(">" + std::to_string(j));
  TextTable table(headers);
  for (size_t i = 0; i < m.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i)};
    for (double v : m[i]) row.push_back(fixed(v, 2));
    table.add_row(row);
  }
  table.print(std::cout);
}

}  // namespace

void add_analysis_commands(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<AnalyzeOptions>();
  CLI::App* analyze = app.add_subcommand("analyze", "Knowledge quality (S, I, E, Q) and geometry of every layer");
  analyze->add_option("--model,-m", a->model, "teacher: zoo spec or .pt/.kdmodel file")->required();
  analyze->add_option("--data,-d", a->data, "dataset spec (see 'data --help')")->capture_default_str();
  analyze->add_option("--per-class", a->per_class, "sample A per class (default 5000/classes)");
  analyze->add_option("--per-class-b", a->per_class_b, "sample B per class (default min(500, N/classes))");
  analyze->add_option("--seed", a->seed, "seed of both samples")->capture_default_str();
  analyze->add_option("--top-k", a->top_k, "number of layers to recommend")->capture_default_str();
  analyze->add_option("--geometry-samples", a->geometry, "samples for TwoNN, PCA-ID and NCC")->capture_default_str();
  analyze->add_option("--batch-size", a->batch, "forward batch size")->capture_default_str();
  analyze->add_option("--device", a->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  analyze->add_flag("--json", a->json, "print one JSON object");
  analyze->add_flag("--no-cache", a->no_cache, "recompute even when a cached result exists");
  analyze->footer("Examples:\n  kdstudio-cli analyze -m teacher.kdmodel\n"
                  "  kdstudio-cli analyze -m resnet34 -d cifar10:~/data/cifar --per-class 100 --json");
  analyze->callback([a, &exit_code] { run_analyze(*a); exit_code = 0; });

  auto p = std::make_shared<ProjectOptions>();
  CLI::App* project = app.add_subcommand("project", "2-D/3-D coordinates of one layer's sample (PCA or t-SNE) as CSV");
  project->add_option("--model,-m", p->model, "zoo spec or model file")->required();
  project->add_option("--data,-d", p->data, "dataset spec")->capture_default_str();
  project->add_option("--layer,-l", p->layer, "generalized layer index")->required();
  project->add_option("--method", p->method, "pca or tsne")->check(CLI::IsMember({"pca", "tsne"}))->capture_default_str();
  project->add_option("--dims", p->dims, "2 or 3")->check(CLI::IsMember({2, 3}))->capture_default_str();
  project->add_option("--per-class", p->per_class, "points per class")->capture_default_str();
  project->add_option("--perplexity", p->perplexity, "t-SNE perplexity")->capture_default_str();
  project->add_option("--seed", p->seed, "seed of the sample and of t-SNE")->capture_default_str();
  project->add_option("--device", p->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  project->add_option("--out,-o", p->out, "CSV file to write (default: standard output)");
  project->footer("Example:\n  kdstudio-cli project -m teacher.kdmodel --layer 3 --method tsne -o layer3.csv");
  project->callback([p, &exit_code] { run_project(*p); exit_code = 0; });

  auto c = std::make_shared<CkaOptions>();
  CLI::App* cka = app.add_subcommand("cka", "Linear CKA between every teacher and every student layer");
  cka->add_option("--teacher,-t", c->teacher, "teacher: zoo spec or model file")->required();
  cka->add_option("--student,-s", c->student, "student: zoo spec or model file")->required();
  cka->add_option("--data,-d", c->data, "dataset spec")->capture_default_str();
  cka->add_option("--per-class", c->per_class, "samples per class")->capture_default_str();
  cka->add_option("--seed", c->seed, "seed of the sample")->capture_default_str();
  cka->add_option("--device", c->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cka->add_flag("--json", c->json, "print one JSON object");
  cka->footer("Example:\n  kdstudio-cli cka -t teacher.kdmodel -s resnet9:channels=1,size=28,width=0.25");
  cka->callback([c, &exit_code] { run_cka(*c); exit_code = 0; });
}

}  // namespace kd::cli
