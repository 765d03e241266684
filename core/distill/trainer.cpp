#include "distill/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/autocast_scope.h"
#include "common/device.h"
#include "common/error.h"
#include "common/torch_compat.h"
#include "data/batch_loader.h"
#include "data/seeded_random.h"
#include "distill/checkpoint.h"
#include "graphs/captured_step.h"
#include "models/scripted_model.h"
#include "distill/lr_schedule.h"
#include "distributed/communicator.h"
#include "distributed/gradient_sync.h"
#include "io/atomic_file.h"
#include "io/text_file.h"
#include "tracking/geometry_tracker.h"

namespace kd {

namespace {

// Before main, so before oneDNN's first primitive: see compat::avoid_onednn_avx512_1x1_bug.
[[gnu::constructor]] void avoid_known_backend_bugs() { compat::avoid_onednn_avx512_1x1_bug(); }

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kCheckpointFile = "checkpoint.safetensors";
/// Test batch size: evaluation has no gradients, so larger batches are cheap.
constexpr int64_t kEvalBatch = 512;

json losses_json(const LossValues& losses) {
  json j = json::object();
  for (const auto& [name, v] : losses) j[name] = v;
  return j;
}

LossValues losses_from(const json& j) {
  LossValues out;
  for (auto it = j.begin(); it != j.end(); ++it) out.emplace_back(it.key(), it.value().get<double>());
  return out;
}

json epoch_json(const EpochReport& r) {
  return json{{"epoch", r.epoch},         {"loss", r.loss},         {"losses", losses_json(r.losses)},
              {"train_acc", r.train_acc}, {"test_acc", r.test_acc}, {"test_loss", r.test_loss},
              {"lr", r.lr},               {"seconds", r.seconds}};
}

EpochReport epoch_from(const json& j, int epochs) {
  EpochReport r;
  r.epoch = j.at("epoch").get<int>();
  r.epochs = epochs;
  r.loss = j.at("loss").get<double>();
  r.losses = losses_from(j.at("losses"));
  r.train_acc = j.at("train_acc").get<double>();
  r.test_acc = j.at("test_acc").get<double>();
  r.test_loss = j.at("test_loss").get<double>();
  r.lr = j.at("lr").get<double>();
  r.seconds = j.at("seconds").get<double>();
  return r;
}

/// Sums of the loss components over a reporting interval, kept as tensors so that nothing is
/// read back from the device until a report is due. Each component also remembers, on the
/// device, the first step at which it was not finite, so that a report names the loss that
/// diverged first rather than the ones it then poisoned.
struct Accumulator {
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  std::vector<std::string> names;
  std::vector<torch::Tensor> sums, first_bad;
  torch::Tensor total, correct;
  int64_t steps = 0, samples = 0;

  void add(const LossBreakdown& loss, const torch::Tensor& labels, int64_t step) {
    torch::NoGradGuard no_grad;
    if (names.empty()) {
      for (const auto& [name, t] : loss.parts) {
        names.push_back(name);
        sums.push_back(torch::zeros({}, t.options().dtype(torch::kFloat)));
        first_bad.push_back(torch::full({}, kNever, t.options().dtype(torch::kInt64)));
      }
      total = torch::zeros({}, loss.total.options().dtype(torch::kFloat));
      correct = torch::zeros({}, labels.options().dtype(torch::kInt64));
    }
    for (size_t i = 0; i < sums.size(); ++i) {
      const torch::Tensor v = loss.parts[i].second.detach().to(torch::kFloat);
      sums[i] += v;
      first_bad[i] = torch::minimum(
          first_bad[i], torch::where(torch::isfinite(v), torch::full_like(first_bad[i], kNever),
                                     torch::full_like(first_bad[i], step)));
    }
    total += loss.total.detach().to(torch::kFloat);
    correct += loss.logits.detach().argmax(1).eq(labels).sum();
    ++steps;
    samples += labels.size(0);
  }

  /// Means over the interval; throws TrainingDiverged naming the component that was not
  /// finite first.
  std::pair<double, LossValues> read(int epoch) const {
    size_t worst = names.size();
    int64_t worst_step = kNever;
    for (size_t i = 0; i < names.size(); ++i) {
      const int64_t bad = first_bad[i].item<int64_t>();
      if (bad < worst_step) {
        worst_step = bad;
        worst = i;
      }
    }
    if (worst < names.size()) {
      const double v = sums[worst].item<double>();
      throw TrainingDiverged("the '" + names[worst] + "' loss became " +
                             (std::isinf(v) ? "Inf" : "NaN") + " in epoch " +
                             std::to_string(epoch + 1) + " (step " + std::to_string(worst_step) +
                             "); training stopped and the last good checkpoint is kept. Try a "
                             "lower learning rate or check the data and the teacher");
    }
    LossValues values;
    for (size_t i = 0; i < sums.size(); ++i) {
      values.emplace_back(names[i], sums[i].item<double>() / static_cast<double>(steps));
    }
    return {total.item<double>() / static_cast<double>(steps), values};
  }
  double accuracy() const {
    return samples ? 100.0 * correct.item<double>() / static_cast<double>(samples) : 0.0;
  }

  /// Over all ranks: sums of the means divided by the ranks (equal shards: the mean of the
  /// global batch), correct answers and samples summed, the first non-finite step the earliest.
  void reduce(Communicator& comm) {
    if (names.empty()) return;
    // One sum for the means, the correct answers and the samples (as doubles: exact below
    // 2^53), one minimum for the first non-finite steps.
    std::vector<torch::Tensor> parts;
    for (const auto& t : sums) parts.push_back(t.to(torch::kDouble));
    parts.push_back(total.to(torch::kDouble));
    parts.push_back(correct.to(torch::kDouble));
    parts.push_back(torch::full({}, static_cast<double>(samples), parts.front().options()));
    torch::Tensor flat = torch::stack(parts).contiguous();
    comm.all_reduce(flat);
    const int64_t n = static_cast<int64_t>(sums.size());
    const double ranks = static_cast<double>(comm.world_size());
    for (int64_t i = 0; i < n; ++i) sums[static_cast<size_t>(i)] = (flat[i] / ranks).to(torch::kFloat);
    total = (flat[n] / ranks).to(torch::kFloat);
    correct = flat[n + 1].to(torch::kInt64);
    samples = static_cast<int64_t>(flat[n + 2].item<double>());
    torch::Tensor bad = torch::stack(first_bad).contiguous();
    comm.all_reduce(bad, Reduce::kMin);
    for (size_t i = 0; i < first_bad.size(); ++i) first_bad[i] = bad[static_cast<int64_t>(i)];
  }
  void clear() { *this = Accumulator{}; }
};

void append_line(const std::string& path, const json& j) {
  std::ofstream f(path, std::ios::app);
  f << j.dump() << '\n';
  if (!f) throw Error("cannot write " + path);
}

// Keeps the lines of a metrics file whose epoch is below `epochs_done` (after a resume).
void truncate_metrics(const std::string& path, int epochs_done) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (json::parse(line).at("epoch").get<int>() < epochs_done) kept += line + "\n";
    } catch (const std::exception&) {
      // A torn last line from a killed process: drop it.
    }
  }
  in.close();
  write_file_atomically(path, kept);
}

// Runs a step of geometry tracking and returns why it failed ("" when it did not): tracking
// informs, so none of its failures (kd::Error, or LibTorch's, e.g. out of memory) may stop the
// training it watches.
template <typename F>
std::string tracking_error(F&& step) {
  try {
    step();
  } catch (const Error& e) {
    return e.what();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    return what.substr(0, what.find('\n'));
  }
  return {};
}

}  // namespace

struct SeedTrainer::State {
  int epochs_done = 0;
  int64_t step = 0;
  int64_t batches_per_epoch = 0;
  double seconds = 0;
  std::vector<EpochReport> history;
  std::optional<OneCycleSchedule> one_cycle;
  std::optional<MultiStepSchedule> multi_step;
};

SeedTrainer::SeedTrainer(TrainerSettings settings, const TrainData& data, LayeredModel& student,
                         LayeredModel* teacher, std::unique_ptr<LayeredModel> simkd_tail,
                         const TeacherTargetCache* cache, torch::Device device, uint64_t seed,
                         std::string seed_dir, Communicator* communicator)
    : settings_(std::move(settings)),
      data_(data),
      student_(student),
      teacher_(teacher),
      cache_(cache),
      device_(device),
      seed_(seed),
      seed_dir_(std::move(seed_dir)),
      state_(std::make_unique<State>()),
      comm_(communicator && communicator->world_size() > 1 ? communicator : nullptr) {
  if (!data_.train || !data_.test) throw Error("training needs a training and a test split");
  if (comm_) {
    rank_ = comm_->rank();
    ranks_ = comm_->world_size();
    writer_ = rank_ == 0;
    if (settings_.batch_size % ranks_ != 0) {
      throw Error("the batch size " + std::to_string(settings_.batch_size) + " cannot be split evenly over " +
                  std::to_string(ranks_) + " processes; use a batch size divisible by " + std::to_string(ranks_));
    }
  }
  // The method's own modules are initialized from the seed, like the student.
  torch::manual_seed(mix_seed(seed_, 0x0b1ec7));
  objective_ = std::make_unique<DistillObjective>(settings_.objective, student_, teacher_,
                                                  std::move(simkd_tail));
  student_.to(device_);
  objective_->to(device_);
  if (teacher_) {
    teacher_->to(device_);
    teacher_->set_training(false);
    // Only the online teacher needs it; the cache ran its own.
    if (settings_.teacher_inference_copy && !cache_) teacher_copy_ = teacher_->inference_copy(device_);
  }
  std::vector<torch::Tensor> params = student_.parameters();
  for (auto& p : objective_->parameters()) params.push_back(p);
  if (settings_.optimizer == "adamw") {
    optimizer_ = std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(settings_.lr).weight_decay(settings_.weight_decay));
  } else if (settings_.optimizer == "sgd") {
    optimizer_ = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(settings_.lr)
                    .momentum(settings_.momentum)
                    .weight_decay(settings_.weight_decay));
  } else {
    throw Error("unknown optimizer '" + settings_.optimizer + "' (use adamw or sgd)");
  }
  const int64_t n = static_cast<int64_t>(data_.train_indices.size());
  state_->batches_per_epoch = n / settings_.batch_size;
  if (state_->batches_per_epoch < 1) {
    throw Error("the training set has " + std::to_string(n) + " samples, fewer than one batch of " +
                std::to_string(settings_.batch_size) + "; lower batch_size");
  }
  const int64_t total = state_->batches_per_epoch * settings_.epochs;
  if (settings_.schedule == "onecycle") {
    state_->one_cycle.emplace(settings_.lr, std::max<int64_t>(total, 2),
                              OneCycleOptions().pct_start(settings_.pct_start));
  } else if (settings_.schedule == "multistep") {
    state_->multi_step.emplace(settings_.lr, settings_.milestones, settings_.gamma);
  }
  const std::string ckpt = seed_dir_ + "/" + kCheckpointFile;
  if (writer_) {
    std::error_code ec;
    std::filesystem::create_directories(seed_dir_, ec);
    if (ec) throw Error("cannot create the run folder " + seed_dir_ + ": " + ec.message());
  }
  if (comm_) {
    restore_shared(ckpt);
  } else if (std::filesystem::exists(ckpt)) {
    restore(read_safetensors(ckpt), ckpt);
  }
}

void SeedTrainer::restore_shared(const std::string& path) {
  // Rank 0 reads the checkpoint and sends its bytes (or its error): the other ranks need no
  // shared file system. Then every rank starts from rank 0's parameters, as DDP does.
  std::string message;
  if (writer_) {
    try {
      message = std::filesystem::exists(path) ? "C" + read_text_file(path) : "N";
    } catch (const std::exception& e) {
      message = std::string("E") + e.what();
    }
  }
  message = comm_->broadcast_text(message, 0);
  if (message.empty() || message[0] == 'E') {
    throw Error(message.empty() ? "rank 0 sent no checkpoint state" : "rank 0: " + message.substr(1));
  }
  if (message[0] == 'C') {
    restore(parse_safetensors(reinterpret_cast<const uint8_t*>(message.data()) + 1, message.size() - 1, path),
            path);
  }
  broadcast_state();
}

void SeedTrainer::broadcast_state() {
  torch::NoGradGuard no_grad;
  auto send = [&](NamedTensors state) {
    for (auto& [name, t] : state) {
      torch::Tensor c = t.is_contiguous() ? t : t.contiguous();
      comm_->broadcast(c, 0);
      if (!c.is_same(t)) t.copy_(c);
    }
  };
  send(student_.named_state());
  send(objective_->named_state());
}

void SeedTrainer::check_replicas(const std::vector<std::pair<std::string, torch::Tensor>>& params) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sums;
  for (const auto& [name, p] : params) sums.push_back(p.detach().to(torch::kDouble).sum());
  torch::Tensor low = torch::stack(sums).contiguous();
  torch::Tensor high = low.clone();
  comm_->all_reduce(low, Reduce::kMin);
  comm_->all_reduce(high, Reduce::kMax);
  const torch::Tensor differ = low.ne(high).to(torch::kCPU);
  for (int64_t i = 0; i < differ.numel(); ++i) {
    if (differ[i].item<bool>()) {
      throw Error("the ranks' replicas differ after step " + std::to_string(state_->step) + " in parameter " +
                  params[static_cast<size_t>(i)].first + " (fingerprints " +
                  std::to_string(low[i].item<double>()) + " to " + std::to_string(high[i].item<double>()) + ")");
    }
  }
}

bool SeedTrainer::stop_requested(TrainObserver* observer) const {
  // 2: stop, 1: pause, 0: go on. With several ranks the largest wish of any rank holds for all,
  // so that every rank stops (or pauses) at the same batch.
  const auto wish = [&] { return observer && observer->cancelled() ? 2 : observer && observer->paused() ? 1 : 0; };
  while (true) {
    const int64_t now = comm_ ? comm_->reduce_value(wish(), Reduce::kMax) : wish();
    if (now != 1) return now == 2;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

SeedTrainer::~SeedTrainer() = default;

double SeedTrainer::lr_at(int64_t step, int epoch) const {
  if (state_->one_cycle) {
    return state_->one_cycle->lr(std::min(step, state_->one_cycle->total_steps() - 1));
  }
  if (state_->multi_step) return state_->multi_step->lr(epoch);
  return settings_.lr;
}

void SeedTrainer::save_checkpoint() {
  if (captured_) captured_->sync_to_optimizer();
  NamedTensors tensors;
  for (auto& [name, t] : student_.named_state()) tensors.emplace_back("student." + name, t);
  for (auto& [name, t] : objective_->named_state()) tensors.emplace_back("objective." + name, t);
  for (auto& item : optimizer_state(*optimizer_)) tensors.push_back(std::move(item));
  json history = json::array();
  for (const auto& r : state_->history) history.push_back(epoch_json(r));
  const std::map<std::string, std::string> meta = {
      {"format", kCheckpointFormat},
      {"epochs_done", std::to_string(state_->epochs_done)},
      {"step", std::to_string(state_->step)},
      {"seed", std::to_string(seed_)},
      {"seconds", std::to_string(state_->seconds)},
      {"history", history.dump()},
  };
  write_safetensors(seed_dir_ + "/" + kCheckpointFile, tensors, meta);
}

void SeedTrainer::restore(const SafetensorsContent& content, const std::string& path) {
  const auto meta = [&](const char* key) -> const std::string& {
    const auto it = content.metadata.find(key);
    if (it == content.metadata.end()) {
      throw Error(path + " is not a KD Studio checkpoint (no '" + key + "' entry)");
    }
    return it->second;
  };
  if (meta("format") != kCheckpointFormat) throw Error(path + " is not a KD Studio checkpoint");
  if (meta("seed") != std::to_string(seed_)) {
    throw Error(path + " belongs to seed " + meta("seed") + ", not " + std::to_string(seed_));
  }
  std::map<std::string, torch::Tensor> stored(content.tensors.begin(), content.tensors.end());
  restore_tensors(student_.named_state(), stored, "student.", "the student " + student_.architecture());
  restore_tensors(objective_->named_state(), stored, "objective.", "the method's modules");
  load_optimizer_state(*optimizer_, stored);
  try {
    state_->epochs_done = std::stoi(meta("epochs_done"));
    state_->step = std::stoll(meta("step"));
    state_->seconds = std::stod(meta("seconds"));
    state_->history.clear();
    for (const auto& e : json::parse(meta("history"))) {
      state_->history.push_back(epoch_from(e, settings_.epochs));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path + ": its training state is unreadable (" + e.what() + ")");
  }
  if (state_->epochs_done < 0 || state_->epochs_done > settings_.epochs ||
      static_cast<int>(state_->history.size()) != state_->epochs_done) {
    throw Error(path + " records " + std::to_string(state_->epochs_done) +
                " epochs done, which does not fit this experiment's " +
                std::to_string(settings_.epochs) + " epochs");
  }
}

std::pair<double, double> SeedTrainer::evaluate() {
  torch::NoGradGuard no_grad;
  objective_->set_training(false);
  // With several ranks, each evaluates every ranks-th test sample and the sums are reduced.
  std::vector<int64_t> idx;
  for (size_t i = static_cast<size_t>(rank_); i < data_.test_indices.size(); i += static_cast<size_t>(ranks_)) {
    idx.push_back(data_.test_indices[i]);
  }
  const int64_t n = static_cast<int64_t>(idx.size());
  const torch::Tensor all = torch::from_blob(const_cast<int64_t*>(idx.data()), {n}, torch::kInt64);
  torch::Tensor correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  torch::Tensor ce = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  for (int64_t begin = 0; begin < n; begin += kEvalBatch) {
    const torch::Tensor rows = all.slice(0, begin, std::min(n, begin + kEvalBatch));
    const torch::Tensor images =
        to_normalized_float(data_.test->images.index_select(0, rows), data_.stats).to(device_);
    const torch::Tensor labels = data_.test->labels.index_select(0, rows).to(device_);
    AutocastScope autocast(settings_.mixed_precision, device_.is_cuda());
    const torch::Tensor logits = objective_->predict(images).to(torch::kFloat);
    correct += logits.argmax(1).eq(labels).sum();
    ce += torch::nn::functional::cross_entropy(
              logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
              .to(torch::kDouble);
  }
  if (comm_) {
    torch::Tensor sums = torch::stack({correct.to(torch::kDouble), ce}).contiguous();
    comm_->all_reduce(sums);
    correct = sums[0];
    ce = sums[1];
  }
  const double dn = static_cast<double>(std::max<int64_t>(static_cast<int64_t>(data_.test_indices.size()), 1));
  return {100.0 * correct.item<double>() / dn, ce.item<double>() / dn};
}

SeedResult SeedTrainer::run(TrainObserver* observer) {
  try {
    return train_epochs(observer);
  } catch (const c10::Error& e) {  // c10::OutOfMemoryError (CUDA) and CPU allocation failures
    const std::string detail = e.what_without_backtrace();
    if (!is_out_of_memory_message(detail)) throw;
    throw_out_of_memory(detail);
  } catch (const std::bad_alloc&) {
    throw_out_of_memory("std::bad_alloc");
  }
}

void SeedTrainer::throw_out_of_memory(const std::string& detail) const {
  const std::string where = device_.is_cuda() ? "the GPU (" + describe_device(device_) + ")"
                                              : std::string("the CPU");
  const int64_t smaller = std::max<int64_t>(1, settings_.batch_size / 2);
  std::string kept = state_->epochs_done > 0
                         ? "the checkpoint after epoch " + std::to_string(state_->epochs_done) +
                               " and the run folder are kept"
                         : "the run folder is kept";
  std::string advice = "try a batch size of " + std::to_string(smaller);
  if (device_.is_cuda() && !settings_.mixed_precision) advice += ", mixed precision (bf16)";
  advice += device_.is_cuda() ? ", or the CPU" : ", or closing other programs";
  // The first line of LibTorch's message says how much was asked for.
  const std::string first_line = detail.substr(0, detail.find('\n')).substr(0, 240);
  throw OutOfMemory("out of memory on " + where + " while training seed " +
                    std::to_string(seed_) + " with batch size " +
                    std::to_string(settings_.batch_size) + " (epoch " +
                    std::to_string(state_->epochs_done + 1) + "): " + advice + "; " + kept +
                    ". (" + first_line + ")");
}

SeedResult SeedTrainer::train_epochs(TrainObserver* observer) {
  const int64_t bpe = state_->batches_per_epoch;
  const int64_t total_steps = bpe * settings_.epochs;
  if (state_->epochs_done > 0 && observer) {
    observer->on_note("seed " + std::to_string(seed_) + ": resuming after epoch " +
                      std::to_string(state_->epochs_done));
  }
  if (writer_) {
    truncate_metrics(seed_dir_ + "/steps.jsonl", state_->epochs_done);
    truncate_metrics(seed_dir_ + "/epochs.jsonl", state_->epochs_done);
  }
  start_tracking(observer);

  BatchLoader loader(*data_.train, data_.stats,
                     LoaderOptions()
                         .batch_size(settings_.batch_size / ranks_)
                         .shard_rank(rank_)
                         .shard_count(ranks_)
                         .shuffle(true)
                         .drop_last(true)
                         .augment(settings_.augment)
                         .seed(seed_)
                         .workers(settings_.loader_workers)
                         .pin_memory(device_.is_cuda()),
                     data_.train_indices);
  const TeacherRequest& request = objective_->teacher_request();
  const bool momentum_cycles = state_->one_cycle && state_->one_cycle->cycles_momentum();
  const auto run_start = Clock::now();
  int64_t steps_this_run = 0;
  std::unique_ptr<GradientSync> gradient_sync;
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  if (comm_) {
    for (auto& [name, t] : student_.named_state()) {
      if (t.requires_grad()) trainable.emplace_back("student." + name, t);
    }
    for (auto& [name, t] : objective_->named_state()) {
      if (t.requires_grad()) trainable.emplace_back("objective." + name, t);
    }
    std::vector<torch::Tensor> params;
    for (auto& item : trainable) params.push_back(item.second);
    gradient_sync = std::make_unique<GradientSync>(params, *comm_);
    if (observer && writer_ && state_->epochs_done < settings_.epochs) {
      char text[160];
      std::snprintf(text, sizeof text, "gradients: %zu bucket%s, %.2f MiB all-reduced per step by each of %d ranks",
                    gradient_sync->bucket_count(), gradient_sync->bucket_count() == 1 ? "" : "s",
                    static_cast<double>(gradient_sync->bytes_per_step()) / (1 << 20), ranks_);
      observer->on_note(text);
    }
  }

  const std::string graph_unavailable = graph_step_unavailable();
  const bool graph_step = graph_unavailable.empty();
  if (!graph_step && settings_.cuda_graphs && device_.is_cuda() && observer && writer_) {
    observer->on_note("CUDA graphs: not used (" + graph_unavailable + "); each step runs as launched");
  }
  captured_.reset();
  for (int epoch = state_->epochs_done; epoch < settings_.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    torch::manual_seed(mix_seed(seed_, static_cast<uint64_t>(epoch), 0xe90c));
    loader.start_epoch(epoch);
    objective_->set_training(true);
    Accumulator interval, whole;
    auto interval_start = Clock::now();
    int64_t batch_index = 0;
    double lr = 0;
    while (true) {
      if (stop_requested(observer)) throw Cancelled();
      std::optional<Batch> batch = loader.next();
      if (!batch) break;
      // Pinned batches on CUDA: the copies overlap the work already queued on the GPU.
      const torch::Tensor images = batch->images.to(device_, /*non_blocking=*/true);
      const torch::Tensor labels = batch->labels.to(device_, /*non_blocking=*/true);
      TeacherBatch targets;
      // The online teacher runs inside the captured step, on its static input.
      if (!request.empty() && (cache_ || !captured_)) {
        targets = cache_ ? cache_->gather(batch->samples, device_)
                         : run_teacher(teacher_copy_ ? *teacher_copy_ : *teacher_, request, images);
      }
      lr = lr_at(state_->step, epoch);
      apply_lr(*optimizer_, lr);
      if (momentum_cycles) apply_beta1(*optimizer_, state_->one_cycle->beta1(state_->step));
      if (!captured_ && graph_step && steps_this_run >= kGraphWarmupSteps) start_graph_step(request, observer);
      LossBreakdown loss;
      if (captured_) {
        loss = captured_->run(images, labels, targets, lr, current_beta1(*optimizer_));
      } else {
        optimizer_->zero_grad();
        loss = compute_loss(images, labels, targets);
        if (gradient_sync) gradient_sync->begin_step();
        loss.total.backward();
        if (gradient_sync) gradient_sync->end_step();
        optimizer_->step();
      }
      if (settings_.check_replicas && comm_) check_replicas(trainable);
      ++state_->step;
      if (tracker_ && settings_.tracking.every_steps > 0 && batch_index + 1 < bpe &&
          state_->step % settings_.tracking.every_steps == 0) {
        track(observer, epoch, true);
        objective_->set_training(true);
      }
      ++steps_this_run;
      ++batch_index;
      interval.add(loss, labels, state_->step);
      whole.add(loss, labels, state_->step);
      const bool last = batch_index == bpe;
      if (batch_index % settings_.log_every == 0 || last) {
        if (comm_) interval.reduce(*comm_);
        auto [total, values] = interval.read(epoch);
        const double secs = std::chrono::duration<double>(Clock::now() - interval_start).count();
        const double run_secs = std::chrono::duration<double>(Clock::now() - run_start).count();
        StepReport r;
        r.epoch = epoch;
        r.epochs = settings_.epochs;
        r.step = state_->step;
        r.total_steps = total_steps;
        r.batch = batch_index;
        r.batches = bpe;
        r.lr = lr;
        r.loss = total;
        r.losses = values;
        r.train_acc = interval.accuracy();
        r.images_per_second = secs > 0 ? static_cast<double>(interval.samples) / secs : 0;
        r.eta_seconds = run_secs / static_cast<double>(steps_this_run) *
                        static_cast<double>(total_steps - state_->step);
        if (writer_) append_line(seed_dir_ + "/steps.jsonl",
                    json{{"epoch", epoch}, {"step", r.step}, {"lr", lr}, {"loss", total},
                         {"losses", losses_json(values)}, {"train_acc", r.train_acc},
                         {"images_per_second", r.images_per_second}});
        if (observer) observer->on_step(r);
        interval.clear();
        interval_start = Clock::now();
      }
    }
    // Nothing non-finite may reach a checkpoint.
    if (comm_) {
      whole.reduce(*comm_);
      broadcast_state();  // rank 0's BatchNorm statistics for evaluation and the checkpoint (DDP's default)
    }
    auto [epoch_loss, epoch_values] = whole.read(epoch);
    EpochReport report;
    report.epoch = epoch;
    report.epochs = settings_.epochs;
    report.loss = epoch_loss;
    report.losses = epoch_values;
    report.train_acc = whole.accuracy();
    std::tie(report.test_acc, report.test_loss) = evaluate();
    report.lr = lr;
    report.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    double best = -1;
    for (const auto& h : state_->history) best = std::max(best, h.test_acc);
    report.best = report.test_acc > best;
    state_->history.push_back(report);
    state_->epochs_done = epoch + 1;
    state_->seconds += report.seconds;
    if (writer_) {
      save_checkpoint();
      // Rewritten whole from the checkpoint's history, so a kill between the two writes loses
      // no epoch line.
      std::string lines;
      for (const auto& h : state_->history) lines += epoch_json(h).dump() + "\n";
      write_file_atomically(seed_dir_ + "/epochs.jsonl", lines);
    }

    // The checkpoint is complete before any rank goes on (a rank that dies later loses nothing).
    if (comm_) comm_->barrier();
    if (observer) observer->on_epoch(report);
    if (tracker_) track(observer, epoch, false);
  }
  return summarize_history(seed_, state_->history, state_->seconds);
}

LossBreakdown SeedTrainer::compute_loss(const torch::Tensor& images, const torch::Tensor& labels,
                                        const TeacherBatch& targets) {
  AutocastScope autocast(settings_.mixed_precision, device_.is_cuda());
  return objective_->compute(images, labels, targets);
}

std::string SeedTrainer::graph_step_unavailable() const {
  if (!settings_.cuda_graphs) return "turned off";
  if (comm_) return "data parallelism over several processes";
  if (dynamic_cast<ScriptedModel*>(&student_) || (teacher_ && dynamic_cast<ScriptedModel*>(teacher_))) {
    return "a TorchScript model";
  }
  if (settings_.graph_step_without_capture) return "";
  return CapturedStep::unavailable_reason(device_);
}

void SeedTrainer::start_graph_step(const TeacherRequest& request, TrainObserver* observer) {
  LayeredModel* teacher = teacher_copy_ ? teacher_copy_.get() : teacher_;
  const bool online = !request.empty() && !cache_;
  CapturedStep::Forward forward = [this, teacher, online, &request](const torch::Tensor& images,
                                                                    const torch::Tensor& labels,
                                                                    const TeacherBatch& cached) {
    return compute_loss(images, labels, online ? run_teacher(*teacher, request, images) : cached);
  };
  auto note = [observer, this](const std::string& text) {
    if (observer && writer_) observer->on_note(text);
  };
  captured_ = std::make_unique<CapturedStep>(*optimizer_, std::move(forward),
                                             !settings_.graph_step_without_capture, note);
  if (device_.is_cuda() && !settings_.graph_step_without_capture) {
    note("CUDA graphs: the training step is captured after " + std::to_string(kGraphWarmupSteps) +
         " ordinary steps and replayed (\"cuda_graphs\": false turns this off)");
  }
}

void SeedTrainer::start_tracking(TrainObserver* observer) {
  tracker_.reset();
  if (!settings_.tracking.enabled || !writer_ || state_->epochs_done >= settings_.epochs) return;
  auto note = [&](const std::string& text) {
    if (observer) observer->on_note(text);
  };
  const std::string why = GeometryTracker::unsupported_reason(settings_.objective);
  if (!why.empty() || !teacher_) return note(why.empty() ? "geometry tracking needs a teacher" : why);
  const auto start = Clock::now();
  std::vector<GeometrySnapshot> kept;
  const std::string failed = tracking_error([&] {
    tracker_ = std::make_unique<GeometryTracker>(settings_.tracking, *data_.train, data_.train_indices,
                                                 data_.stats, *teacher_, student_, *objective_, device_);
    kept = start_geometry_log(seed_dir_ + "/" + kGeometryLogFile, tracker_->probe(), state_->epochs_done);
  });
  if (!failed.empty()) {
    tracker_.reset();
    return note("geometry tracking is off: " + failed);
  }
  char text[200];
  std::snprintf(text, sizeof text, "geometry tracking: %zu probe samples, %zu pairs (teacher side %.1f s)",
                tracker_->probe().labels.size(), tracker_->probe().pairs.size(),
                std::chrono::duration<double>(Clock::now() - start).count());
  note(text);
  if (observer) {
    observer->on_geometry_probe(tracker_->probe());
    for (const GeometrySnapshot& s : kept) observer->on_geometry(s);
  }
  if (state_->epochs_done == 0) track(observer, -1, false);  // before training
}

void SeedTrainer::track(TrainObserver* observer, int epoch, bool partial) {
  const std::string failed = tracking_error([&] {
    GeometrySnapshot s = tracker_->snapshot(epoch, state_->step, partial);
    s.epochs_done = static_cast<double>(state_->step) / static_cast<double>(state_->batches_per_epoch);
    append_geometry_snapshot(seed_dir_ + "/" + kGeometryLogFile, s);
    if (observer) observer->on_geometry(s);
  });
  if (!failed.empty()) {
    tracker_.reset();
    if (observer) observer->on_note("geometry tracking stopped: " + failed);
  }
}

SeedResult summarize_history(uint64_t seed, const std::vector<EpochReport>& history,
                             double seconds) {
  SeedResult r;
  r.seed = seed;
  r.epochs_done = static_cast<int>(history.size());
  r.history = history;
  r.seconds = seconds;
  r.best_test_acc = -1;
  for (const auto& h : history) {
    if (h.test_acc > r.best_test_acc) {
      r.best_test_acc = h.test_acc;
      r.best_epoch = h.epoch;
    }
  }
  if (history.empty()) r.best_test_acc = 0;
  r.last_test_acc = history.empty() ? 0 : history.back().test_acc;
  return r;
}

std::string epoch_record(const EpochReport& report) { return epoch_json(report).dump(); }

EpochReport parse_epoch_record(const std::string& text, int epochs) {
  return epoch_from(json::parse(text), epochs);
}

}  // namespace kd
