// Training-throughput benchmark: KD Studio's real trainer (kd::SeedTrainer, the loop every run
// uses) on synthetic in-memory data, teacher online or with cached targets, and the data loader
// alone. Prints one JSON line. bench/run_benchmarks.sh runs it side by side with the PyTorch
// reference (bench/reference_train.py); docs/performance.md describes the suite.
//
// Modes:
//   train   images/s of training steps after `--warmup` steps (one epoch of warmup + steps
//           batches, or of --images images), plus the epoch's training time
//   loader  images/s kd::BatchLoader delivers (normalized, optionally augmented batches)
//   layers  the teacher and student layers the method pairs (for the reference script)
//   teacher images/s of the teacher's forward to the layers the method reads (CPU), through
//           the inference copy (BatchNorm folded, NHWC) or, with --inference-copy off, the model
//   check   computes the loss of one batch and writes the batch, the weights and the losses to a
//           safetensors file (reference_train.py --check recomputes them in PyTorch)
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/torch_compat.h"
#if KD_TORCH_LEGACY_PROFILER
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

#if defined(KD_BENCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "common/allocator.h"
#include "common/device.h"
#include "data/batch_loader.h"
#include "data/transforms.h"
#include "distill/distill_objective.h"
#include "distill/method.h"
#include "distill/standard_layers.h"
#include "distill/teacher_targets.h"
#include "distill/trainer.h"
#include "experiment/experiment_setup.h"
#include "io/safetensors.h"
#include "models/zoo/zoo_builder.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// User + system CPU time of the process (all threads), seconds.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Random uint8 images of the model's input shape, random labels (fixed seed).
kd::DatasetSplit synthetic_split(int64_t n, const kd::InputShape& shape, int64_t classes) {
  torch::manual_seed(12345);
  kd::DatasetSplit s;
  s.images = torch::randint(0, 256, {n, shape.channels, shape.height, shape.width}, torch::kUInt8);
  s.labels = torch::randint(0, classes, {n}, torch::kInt64);
  return s;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

/// Records when step reports arrive (reports come every `log_every` steps and at the epoch end).
/// Peak GPU memory the caching allocator handed out so far, in MiB (0 without CUDA).
double peak_gpu_mib(const torch::Device& device) {
#if defined(KD_BENCH_CUDA)
  if (!device.is_cuda()) return 0;
  // allocated_bytes[0] is the aggregate over pool types in every LibTorch 1.13-2.x.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
  return static_cast<double>(stats.allocated_bytes[0].peak) / 1048576.0;
#else
  (void)device;
  return 0;
#endif
}

class Timer : public kd::TrainObserver {
 public:
  void on_step(const kd::StepReport& r) override {
    marks.emplace_back(r.step, Clock::now());
    cpu.push_back(cpu_seconds());
    last_losses = r.losses;
  }
  void on_geometry(const kd::GeometrySnapshot& s) override { snapshot_seconds.push_back(s.seconds); }
  std::vector<double> snapshot_seconds;  ///< geometry tracking: what each snapshot cost
  std::vector<std::pair<int64_t, Clock::time_point>> marks;
  std::vector<double> cpu;  ///< process CPU seconds at each mark
  kd::LossValues last_losses;
};

struct Options {
  std::string mode = "train", teacher = "resnet34", student = "resnet9", method = "ours";
  int64_t batch = 128, steps = 20, warmup = 5, images = 0;
  int threads = 0, workers = 2;
  std::string cache = "off", out, allocator = "tuned", device = "cpu", profile;
  bool augment = false, bf16 = false, inference_copy = true, track_geometry = false;
  bool cuda_graphs = true;
  int teacher_layer_count = 4;
};

/// --profile FILE: every ATen operator of the run (name, start, duration, thread, input shapes)
/// as a JSON list of trace events, for bench/profile_ops.py. The profiler slows the run: use it
/// for where the time goes, not for throughput.
class OpProfile {
 public:
  explicit OpProfile(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
#if KD_TORCH_LEGACY_PROFILER
    namespace tp = torch::profiler::impl;
    torch::autograd::profiler::enableProfiler(
        tp::ProfilerConfig(tp::ProfilerState::KINETO, /*report_input_shapes=*/true),
        {tp::ActivityType::CPU});
#else
    throw kd::Error("--profile uses the profiler API of LibTorch 1.x; this build has " +
                    std::string(TORCH_VERSION));
#endif
  }
  void save() {
    if (path_.empty()) return;
#if KD_TORCH_LEGACY_PROFILER
    const auto result = torch::autograd::profiler::disableProfiler();
    json events = json::array();
    for (const auto& e : result->events()) {
      events.push_back({{"name", e.name()}, {"ph", "X"}, {"tid", e.startThreadId()},
                        {"ts", static_cast<double>(e.startUs())},
                        {"dur", static_cast<double>(e.durationUs())},
                        {"shapes", e.hasShapes() ? json(e.shapes()).dump() : ""}});
    }
    std::ofstream out(path_);
    out << events.dump();
    if (!out) throw kd::Error("cannot write the profile " + path_);
#endif
  }

 private:
  std::string path_;
};

kd::ObjectiveSettings objective_for(const Options& o, const kd::LayeredModel& student,
                                    const kd::LayeredModel* teacher) {
  kd::ObjectiveSettings s;
  s.method = kd::parse_method(o.method);
  const kd::MethodTraits traits = kd::method_traits(s.method);
  if (teacher && (traits.feature_pairs || traits.all_pairs)) {
    s.teacher_layers = kd::standard_layers(*teacher, o.teacher_layer_count);
    s.student_layers = kd::standard_layers(student, o.teacher_layer_count);
  }
  return s;
}

json run_train(const Options& o) {
  auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.student), 7);
  const kd::Method method = kd::parse_method(o.method);
  std::unique_ptr<kd::LayeredModel> teacher;
  if (kd::method_traits(method).needs_teacher) {
    teacher = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.teacher), 1);
  }
  const int64_t n = o.images > 0 ? o.images : (o.warmup + o.steps) * o.batch;
  const kd::DatasetSplit train = synthetic_split(n, student->input_shape(), student->num_classes());
  const kd::DatasetSplit test{train.images.slice(0, 0, o.batch), train.labels.slice(0, 0, o.batch)};
  kd::TrainData data;
  data.train = &train;
  data.test = &test;
  data.stats = kd::compute_channel_stats(train);
  data.train_indices = iota(n);
  data.test_indices = iota(test.images.size(0));

  kd::TrainerSettings settings;
  settings.objective = objective_for(o, *student, teacher.get());
  settings.lr = kd::default_lr(student->architecture(), "adamw");
  settings.weight_decay = 0.01;
  settings.epochs = 1;
  settings.batch_size = o.batch;
  settings.augment = o.augment;
  settings.log_every = static_cast<int>(std::max<int64_t>(o.warmup, 1));
  settings.loader_workers = o.workers;
  settings.teacher_inference_copy = o.inference_copy;
  settings.mixed_precision = o.bf16;
  settings.cuda_graphs = o.cuda_graphs;
  settings.tracking.enabled = o.track_geometry;
  const torch::Device device = kd::resolve_device(o.device);

  std::unique_ptr<kd::TeacherTargetCache> cache;
  double cache_seconds = 0;
  if (teacher && o.cache == "on") {
    const kd::TeacherRequest request = kd::DistillObjective::request_for(settings.objective, *student);
    teacher->set_training(false);
    const auto t0 = Clock::now();
    kd::CacheOptions cache_options;
    cache_options.device = o.device;
    cache_options.inference_copy = o.inference_copy;
    cache = std::make_unique<kd::TeacherTargetCache>(*teacher, request, train, data.stats,
                                                     data.train_indices, cache_options);
    cache_seconds = seconds_since(t0);
  }
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("kdbench-train-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  Timer timer;
  double epoch_seconds = 0;
  {
    kd::SeedTrainer trainer(settings, data, *student, teacher.get(), nullptr, cache.get(),
                            device, 7, dir);
    const auto t0 = Clock::now();
    OpProfile profile(o.profile);
    trainer.run(&timer);
    profile.save();
    if (!timer.marks.empty()) {
      epoch_seconds = std::chrono::duration<double>(timer.marks.back().second - t0).count();
    }
  }
  std::filesystem::remove_all(dir);
  if (timer.marks.size() < 2) {
    throw kd::Error("the run gave " + std::to_string(timer.marks.size()) +
                    " step reports, too few to time (" + std::to_string(n) + " images make " +
                    std::to_string(n / o.batch) + " batches of " + std::to_string(o.batch) +
                    "; the first " + std::to_string(o.warmup) + " are warm-up): raise --steps or --images");
  }
  // Throughput from the report after the warm-up steps to the last one.
  const auto& first = timer.marks.front();
  const auto& last = timer.marks.back();
  const int64_t measured_steps = last.first - first.first;
  const double secs = std::chrono::duration<double>(last.second - first.second).count();
  json losses = json::object();
  for (const auto& [name, v] : timer.last_losses) losses[name] = v;
  return {{"side", "ours"},
          {"mode", "train"},
          {"method", o.method},
          {"teacher", teacher ? o.teacher : ""},
          {"student", o.student},
          {"batch", o.batch},
          {"cache", cache ? "on" : "off"},
          {"augment", o.augment},
          {"threads", at::get_num_threads()},
          {"device", kd::describe_device(device)},
          {"bf16", o.bf16},
          {"cuda_graphs", o.cuda_graphs && device.is_cuda()},
          {"peak_gpu_mib", peak_gpu_mib(device)},
          {"images", n},
          {"warmup_steps", first.first},
          {"measured_steps", measured_steps},
          {"images_per_second", secs > 0 ? static_cast<double>(measured_steps * o.batch) / secs : 0},
          {"cpu_seconds_per_image",
           measured_steps > 0 ? (timer.cpu.back() - timer.cpu.front()) / static_cast<double>(measured_steps * o.batch) : 0},
          {"epoch_seconds", epoch_seconds},
          {"geometry_snapshots", timer.snapshot_seconds.size()},
          // The end-of-epoch snapshot (the first one, before training, also warms the probe up).
          {"geometry_snapshot_seconds", timer.snapshot_seconds.empty() ? 0.0 : timer.snapshot_seconds.back()},
          {"cache_seconds", cache_seconds},
          {"teacher_layers", settings.objective.teacher_layers},
          {"student_layers", settings.objective.student_layers},
          {"last_losses", losses}};
}

json run_loader(const Options& o) {
  auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.student), 7);
  const int64_t n = o.images > 0 ? o.images : (o.warmup + o.steps) * o.batch;
  const kd::DatasetSplit train = synthetic_split(n, student->input_shape(), student->num_classes());
  kd::BatchLoader loader(train, kd::compute_channel_stats(train),
                         kd::LoaderOptions().batch_size(o.batch).augment(o.augment).seed(1).workers(o.workers));
  const int64_t per_epoch = loader.batches_per_epoch();
  int64_t delivered = 0, epoch = 0;
  Clock::time_point t0 = Clock::now();
  double checksum = 0;
  loader.start_epoch(0);
  while (delivered < o.warmup + o.steps) {
    std::optional<kd::Batch> b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      continue;
    }
    checksum += b->images[0][0][0][0].item<double>();  // touch the batch
    if (++delivered == o.warmup) t0 = Clock::now();
  }
  const double secs = seconds_since(t0);
  return {{"side", "ours"},      {"mode", "loader"},
          {"student", o.student}, {"batch", o.batch},
          {"augment", o.augment}, {"workers", o.workers},
          {"threads", at::get_num_threads()}, {"batches_per_epoch", per_epoch},
          {"measured_batches", o.steps},
          {"images_per_second", secs > 0 ? static_cast<double>(o.steps * o.batch) / secs : 0},
          {"checksum", checksum}};
}

json run_teacher_mode(const Options& o) {
  auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.student), 7);
  auto teacher = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.teacher), 1);
  kd::ObjectiveSettings s = objective_for(o, *student, teacher.get());
  const kd::TeacherRequest request = kd::DistillObjective::request_for(s, *student);
  teacher->set_training(false);
  std::unique_ptr<kd::LayeredModel> copy =
      o.inference_copy ? teacher->inference_copy(torch::kCPU) : nullptr;
  kd::LayeredModel& net = copy ? *copy : *teacher;
  const auto in = teacher->input_shape();
  const torch::Tensor x = torch::randn({o.batch, in.channels, in.height, in.width});
  for (int i = 0; i < o.warmup; ++i) kd::run_teacher(net, request, x);
  const auto t0 = Clock::now();
  for (int i = 0; i < o.steps; ++i) kd::run_teacher(net, request, x);
  const double secs = seconds_since(t0);
  return {{"side", "ours"},
          {"mode", "teacher"},
          {"teacher", o.teacher},
          {"batch", o.batch},
          {"threads", at::get_num_threads()},
          {"inference_copy", copy != nullptr},
          {"teacher_layers", s.teacher_layers},
          {"images_per_second", secs > 0 ? static_cast<double>(o.steps * o.batch) / secs : 0}};
}

json run_layers(const Options& o) {
  auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.student), 7);
  auto teacher = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.teacher), 1);
  const kd::ObjectiveSettings s = objective_for(o, *student, teacher.get());
  return {{"teacher_layers", s.teacher_layers}, {"student_layers", s.student_layers}};
}

/// One batch through the objective as the trainer computes it (student in training mode,
/// teacher in eval mode, online), saved with everything needed to recompute it.
json run_check(const Options& o) {
  auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.student), 7);
  auto teacher = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(o.teacher), 1);
  const kd::DatasetSplit train = synthetic_split(o.batch, student->input_shape(), student->num_classes());
  const torch::Tensor images = kd::to_normalized_float(train.images, kd::compute_channel_stats(train));
  torch::manual_seed(99);
  kd::DistillObjective objective(objective_for(o, *student, teacher.get()), *student, teacher.get());
  teacher->set_training(false);
  objective.set_training(true);
  kd::NamedTensors saved;  // weights before the step (BN running stats change in training mode)
  for (auto& [k, t] : student->named_state()) saved.emplace_back("student." + k, t.clone());
  for (auto& [k, t] : teacher->named_state()) saved.emplace_back("teacher." + k, t.clone());
  for (auto& [k, t] : objective.named_state()) saved.emplace_back("objective." + k, t.clone());
  const kd::TeacherBatch targets = kd::run_teacher(*teacher, objective.teacher_request(), images);
  const kd::LossBreakdown loss = objective.compute(images, train.labels, targets);
  saved.emplace_back("images", images);
  saved.emplace_back("labels", train.labels);
  json parts = json::object();
  for (const auto& [name, t] : loss.parts) parts[name] = t.item<double>();
  const json out = {{"method", o.method}, {"teacher", o.teacher}, {"student", o.student},
                    {"teacher_layers", objective.settings().teacher_layers},
                    {"student_layers", objective.settings().student_layers},
                    {"total", loss.total.item<double>()}, {"parts", parts}};
  kd::write_safetensors(o.out, saved, {{"check", out.dump()}});
  return out;
}

/// Options that cannot give a figure, refused before any work.
void validate(const Options& o) {
  if (o.batch < 1) throw kd::Error("--batch must be at least 1, not " + std::to_string(o.batch));
  if (o.steps < 1) throw kd::Error("--steps must be at least 1, not " + std::to_string(o.steps));
  if (o.warmup < 0) throw kd::Error("--warmup must not be negative");
  if (o.images < 0) throw kd::Error("--images must not be negative");
  if (o.workers < 0) throw kd::Error("--workers must not be negative");
}

// A benchmark that dies never does so silently: a crash (signal) or an exception escaping a
// thread prints what happened and which mode, and the exit status says it failed.
const char* g_mode = "?";

void on_fatal_signal(int sig) {
  const char* name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
                     : sig == SIGILL ? "SIGILL" : "SIGABRT";
  const char* parts[] = {"kdstudio-bench-train: crashed with ", name, " in --mode ", g_mode,
                         " (a bug: please report it with the command line)\n"};
  for (const char* p : parts) {
    if (::write(STDERR_FILENO, p, std::strlen(p)) < 0) break;
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_failure_reporting() {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);
  std::set_terminate([] {
    std::string what = "an unknown exception";
    if (auto e = std::current_exception()) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
    } else {
      what = "std::terminate without an exception";
    }
    std::cerr << "kdstudio-bench-train: terminated (" << what << ") in --mode " << g_mode << std::endl;
    std::_Exit(3);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"KD Studio training-throughput benchmark (prints one JSON line)"};
  Options o;
  app.add_option("--mode", o.mode, "train, loader, layers, check or teacher")
      ->check(CLI::IsMember({"train", "loader", "layers", "check", "teacher"}));
  app.add_option("--teacher", o.teacher, "teacher zoo spec");
  app.add_option("--student", o.student, "student zoo spec");
  app.add_option("--method", o.method, "distillation method (ours, kd, student, ...)");
  app.add_option("--batch", o.batch, "batch size");
  app.add_option("--steps", o.steps, "measured steps (batches) after the warm-up");
  app.add_option("--warmup", o.warmup, "warm-up steps (not measured)");
  app.add_option("--images", o.images, "training images (default (warmup + steps) x batch)");
  app.add_option("--threads", o.threads, "intra-op threads (0 = all cores)");
  app.add_option("--workers", o.workers, "loader threads");
  app.add_option("--cache", o.cache, "teacher targets cached: on or off")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_flag("--augment", o.augment, "random crop and flip");
  app.add_option("--device", o.device, "train mode: cpu, cuda or cuda:N");
  app.add_flag("--bf16", o.bf16, "train mode: bf16 autocast (CUDA only)");
  app.add_option("--cuda-graphs", o.cuda_graphs,
                 "train mode on CUDA: capture the step in a CUDA graph after 3 steps (default true)");
  app.add_flag("--track-geometry", o.track_geometry,
               "train mode: geometry tracking on (snapshots before training and after the epoch)");
  app.add_option("--allocator", o.allocator,
                 "tuned (what kdstudio and kdstudio-cli do, kd::tune_allocator) or default (glibc's)")
      ->check(CLI::IsMember({"tuned", "default"}));
  app.add_option("--out", o.out, "check mode: the safetensors file to write");
  app.add_option("--inference-copy", o.inference_copy,
                 "train and teacher modes: the online teacher runs through its inference copy "
                 "(BatchNorm folded, NHWC on the CPU): 1 (default) or 0");
  app.add_option("--profile", o.profile,
                 "train mode: write every operator's timing to this JSON file "
                 "(bench/profile_ops.py reads it)");
  CLI11_PARSE(app, argc, argv);
  install_failure_reporting();
  g_mode = o.mode.c_str();
  try {
    validate(o);
    const bool tuned = o.allocator == "tuned" && kd::tune_allocator() == kd::AllocatorTuning::kApplied;
    kd::configure_threads(o.threads);
    json out;
    if (o.mode == "train") out = run_train(o);
    if (o.mode == "loader") out = run_loader(o);
    if (o.mode == "layers") out = run_layers(o);
    if (o.mode == "teacher") out = run_teacher_mode(o);
    if (o.mode == "check") {
      if (o.out.empty()) throw kd::Error("check mode needs --out FILE");
      out = run_check(o);
    }
    if (o.mode == "train" || o.mode == "loader") out["allocator"] = tuned ? "tuned" : "default";
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "kdstudio-bench-train: " << e.what() << std::endl;
    return 1;
  } catch (...) {
    std::cerr << "kdstudio-bench-train: failed with an exception that is not a std::exception" << std::endl;
    return 1;
  }
  if (!std::cout) {
    std::cerr << "kdstudio-bench-train: could not write the result to standard output" << std::endl;
    return 1;
  }
  return 0;
}
