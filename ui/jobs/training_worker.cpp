#include "jobs/training_worker.h"

#include <c10/util/Exception.h>

#include <QFileInfo>
#include <QMutexLocker>
#include <fstream>
#include <thread>
#include <unistd.h>
#include <QDir>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/device.h"
#include "common/error.h"
#include "distributed/communicator.h"
#include "distributed/local_launch.h"
#include "experiment/experiment_runner.h"
#include "io/atomic_file.h"
#include "jobs/run_files.h"

namespace kd::ui {

namespace {

/// Model files a finished seed leaves (zoo students, TorchScript students).
constexpr const char* kModelFiles[] = {"student.kdmodel", "student.pt"};

QString joined(const std::vector<int>& v) {
  QStringList parts;
  for (int i : v) parts << QString::number(i);
  return parts.join(QStringLiteral(", "));
}

/// What the user reads about a failure: the engine's message (which says what to try; a
/// diverged loss suggests a lower learning rate and kd::OutOfMemory the batch size to try),
/// plus advice for an allocation failure the trainer did not explain (e.g. in the teacher cache).
QString explain(const QString& message) {
  if (message.startsWith(QStringLiteral("out of memory on "))) return message;
  if (message.contains(QStringLiteral("out of memory"), Qt::CaseInsensitive)) {
    return QObject::tr(
               "The device ran out of memory (%1). Try a smaller batch size, mixed "
               "precision, or the CPU.")
        .arg(message.left(300));
  }
  return message;
}

std::vector<std::pair<QString, double>> toQt(const LossValues& losses) {
  std::vector<std::pair<QString, double>> out;
  out.reserve(losses.size());
  for (const auto& [name, v] : losses) out.emplace_back(QString::fromStdString(name), v);
  return out;
}

QString planText(const ExperimentRunner& runner) {
  const PreparedExperiment& p = runner.prepared();
  const ExperimentConfig& c = p.resolved;
  QString plan = QObject::tr("%1 training / %2 test images")
                     .arg(p.train_indices.size())
                     .arg(p.test_indices.size());
  if (c.teacher_layers && c.student_layers && c.method != Method::kStudent) {
    plan += QObject::tr(" · layers: teacher [%1] → student [%2]")
                .arg(joined(c.teacher_layers->indices), joined(c.student_layers->indices));
  }
  plan += QObject::tr(" · lr %1").arg(c.lr.value_or(0));
  return plan;
}

}  // namespace

TrainingWorker::TrainingWorker(QObject* parent) : QObject(parent) {}

void TrainingWorker::resetFlags() {
  stop_.store(false);
  pause_.store(false);
}

template <typename F>
void TrainingWorker::push(F&& add) {
  bool wake = false;
  {
    QMutexLocker lock(&mutex_);
    add(pending_);
    wake = !woken_;
    woken_ = true;
  }
  if (wake) emit dataArrived();
}

TrainingUpdate TrainingWorker::takeUpdate() {
  QMutexLocker lock(&mutex_);
  TrainingUpdate out = std::move(pending_);
  pending_ = TrainingUpdate{};
  woken_ = false;
  return out;
}

namespace {

/// The other ranks of a run the app trains with several processes, and the app's share of the
/// cores while it lasts.
struct OtherRanks {
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<RankProcesses> processes;
  std::string log, config_file;
  int threads_before = 0;

  ~OtherRanks() {
    processes.reset();
    comm.reset();
    if (threads_before > 0) at::set_num_threads(threads_before);
    std::remove(config_file.c_str());
  }

  /// Starts ranks 1 .. n-1 as kdstudio-cli processes and joins them as rank 0.
  OtherRanks(const ExperimentConfig& config, const QString& runsRoot, int n) {
    const std::string cli = kdstudioCliPath().toStdString();
    if (cli.empty()) throw Error("training with several processes needs kdstudio-cli (not found beside kdstudio or on the PATH)");
    const std::string stem = (QDir::tempPath() + "/kdstudio-ranks-").toStdString() + std::to_string(getpid());
    config_file = stem + ".json";
    log = stem + ".log";
    write_file_atomically(config_file, experiment_to_json(config) + "\n");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int share = std::max(1, cores / n);
    threads_before = at::get_num_threads();
    at::set_num_threads(share);
    LaunchEnv env;
    env.world_size = n;
    env.local_world_size = n;
    env.master_addr = "127.0.0.1";
    env.master_port = free_local_port();
    env.launcher = "KD Studio";
    processes = std::make_unique<RankProcesses>(
        std::vector<std::string>{cli, "--threads", std::to_string(share), "train", "--config", config_file, "--out",
                                 runsRoot.toStdString(), "--device", config.device, "--dist-timeout", "120"},
        1, n, env.master_port, log);
    CommunicatorOptions options;
    options.timeout = std::chrono::seconds(120);
    options.device = config.device == "auto" || config.device.empty() ? "cpu" : config.device;
    comm = Communicator::join(env, options);
  }

  /// What the other ranks said, for an error message.
  std::string tail() const {
    std::ifstream f(log);
    std::string line, last;
    while (std::getline(f, line)) {
      if (line.find("error") != std::string::npos) last = line;
    }
    return last;
  }
};

}  // namespace

void TrainingWorker::train(const ExperimentConfig& config, const QString& runsRoot, int processes) {
  TrainingOutcome outcome;
  runDir_.clear();
  seedIndex_ = 0;
  seedCount_ = config.seeds;
  auto fail = [&](const QString& message) { outcome.error = explain(message); };
  try {
    PrepareOptions options;
    options.device = config.device;  // the form's device applies to a resumed run too
    const auto make = [&] {
      return ExperimentRunner::create(config, "", runsRoot.toStdString(), options, ExistingRun::kResume, this);
    };
    std::unique_ptr<OtherRanks> ranks;
    if (processes > 1) {
      on_stage("starting " + std::to_string(processes - 1) + " more processes", 0);
      ranks = std::make_unique<OtherRanks>(config, runsRoot, processes);
    }
    std::unique_ptr<ExperimentRunner> runner =
        ranks ? ExperimentRunner::replicated(*ranks->comm, make, options, this) : make();
    runDir_ = runner->run_dir();
    outcome.runDir = QString::fromStdString(runDir_);
    const PreparedExperiment& p = runner->prepared();
    const int64_t batch = std::max<int64_t>(1, p.resolved.batch_size);
    batchesPerEpoch_ = std::max<int64_t>(1, static_cast<int64_t>(p.train_indices.size()) / batch);
    seedCount_ = p.resolved.seeds;
    QString device = QString::fromStdString(p.device_description);
    if (ranks) device += tr(" × %1 processes").arg(processes);
    emit prepared(outcome.runDir, device, planText(*runner));
    ExperimentResult result;
    try {
      result = runner->run(this);
    } catch (const RankFailure& e) {
      const std::string said = ranks ? ranks->processes->wait(std::chrono::seconds(5)) : "";
      throw Error(std::string(e.what()) + (said.empty() || said == "timeout" ? "" : "; " + said) +
                  (ranks && !ranks->tail().empty() ? " (" + ranks->tail() + ")" : "") +
                  ". The checkpoint of the last finished epoch is kept: Start continues the run");
    }
    if (ranks) {
      const std::string said = ranks->processes->wait(std::chrono::seconds(60));
      if (!said.empty()) on_note("the other processes: " + said);
    }
    outcome.complete = result.complete;
    outcome.seeds = static_cast<int>(result.seeds.size());
    outcome.lastAccMean = result.last_test_acc_mean;
    outcome.lastAccStd = result.last_test_acc_std;
    outcome.bestAccMean = result.best_test_acc_mean;
    outcome.bestAccStd = result.best_test_acc_std;
    if (!result.seeds.empty()) {
      const QString seedDir = outcome.runDir + QLatin1Char('/') +
                              QString::fromStdString(seed_folder_name(result.seeds.front().seed));
      for (const char* file : kModelFiles) {
        const QString path = seedDir + QLatin1Char('/') + QLatin1String(file);
        if (QFileInfo::exists(path)) {
          outcome.modelPath = path;
          break;
        }
      }
    }
  } catch (const Cancelled&) {
    outcome.stopped = true;
  } catch (const Error& e) {  // TrainingDiverged included: it names the loss and the epoch
    fail(QString::fromStdString(e.what()));
  } catch (const c10::Error& e) {  // CUDA out of memory included
    fail(QString::fromStdString(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail(QString::fromStdString(e.what()));
  } catch (...) {
    fail(tr("an unknown error stopped training"));
  }
  emit finished(outcome);
  queued_.fetch_sub(1);  // after the emit: a waiter that sees idle finds finished() posted
}

void TrainingWorker::progress(double fraction, const std::string& message) {
  on_stage(message, fraction);
}

void TrainingWorker::on_stage(const std::string& what, double fraction) {
  const QString text = QString::fromStdString(what);
  push([&](TrainingUpdate& u) { u.stage = std::make_pair(text, fraction); });
}

void TrainingWorker::on_step(const StepReport& r) {
  TrainingUpdate::Step s;
  s.seedIndex = seedIndex_;
  s.x = static_cast<double>(r.epoch) +
        static_cast<double>(r.batch) / static_cast<double>(std::max<int64_t>(1, r.batches));
  s.loss = r.loss;
  s.losses = toQt(r.losses);
  s.trainAcc = r.train_acc;
  s.lr = r.lr;
  TrainingUpdate::Progress p;
  p.seedIndex = seedIndex_;
  p.seedCount = seedCount_;
  p.epoch = r.epoch;
  p.epochs = r.epochs;
  p.step = r.step;
  p.totalSteps = std::max<int64_t>(1, r.total_steps);
  p.imagesPerSecond = r.images_per_second;
  p.etaSeconds = r.eta_seconds;
  push([&](TrainingUpdate& u) {
    u.steps.push_back(std::move(s));
    u.progress = p;
  });
}

void TrainingWorker::on_epoch(const EpochReport& r) {
  TrainingUpdate::Epoch e;
  e.seedIndex = seedIndex_;
  e.x = r.epoch + 1.0;
  e.testAcc = r.test_acc;
  e.testLoss = r.test_loss;
  push([&](TrainingUpdate& u) { u.epochs.push_back(e); });
}

void TrainingWorker::on_seed(int index, int count, uint64_t seed) {
  seedIndex_ = index;
  seedCount_ = count;
  loadHistory(runDir_ + "/" + seed_folder_name(seed), index);
}

void TrainingWorker::on_note(const std::string& text) {
  const QString note = QString::fromStdString(text);
  push([&](TrainingUpdate& u) { u.notes << note; });
}

void TrainingWorker::on_geometry_probe(const GeometryProbe& probe) {
  push([&](TrainingUpdate& u) {
    u.geometryProbe = probe;
    u.geometry.clear();
  });
}

void TrainingWorker::on_geometry(const GeometrySnapshot& snapshot) {
  push([&](TrainingUpdate& u) { u.geometry.push_back(snapshot); });
}

void TrainingWorker::loadHistory(const std::string& seedDir, int seedIndex) {
  // epochs.jsonl is rewritten whole from the checkpoint after each epoch, so its lines are the
  // epochs the resumed seed will not train again; steps of later epochs are dropped by the trainer.
  using nlohmann::json;
  TrainingUpdate old;
  std::string line;
  std::ifstream epochs(seedDir + "/epochs.jsonl");
  while (std::getline(epochs, line)) {
    try {
      const json j = json::parse(line);
      old.epochs.push_back({seedIndex, j.at("epoch").get<int>() + 1.0,
                            j.at("test_acc").get<double>(), j.at("test_loss").get<double>()});
    } catch (const std::exception&) {
      break;  // a torn line: keep what was read
    }
  }
  if (old.epochs.empty()) return;
  const int done = static_cast<int>(old.epochs.size());
  std::ifstream steps(seedDir + "/steps.jsonl");
  while (std::getline(steps, line)) {
    try {
      const json j = json::parse(line);
      if (j.at("epoch").get<int>() >= done) continue;
      TrainingUpdate::Step s;
      s.seedIndex = seedIndex;
      s.x =
          static_cast<double>(j.at("step").get<int64_t>()) / static_cast<double>(batchesPerEpoch_);
      s.loss = j.at("loss").get<double>();
      for (auto it = j.at("losses").begin(); it != j.at("losses").end(); ++it) {
        s.losses.emplace_back(QString::fromStdString(it.key()), it.value().get<double>());
      }
      s.trainAcc = j.at("train_acc").get<double>();
      s.lr = j.at("lr").get<double>();
      old.steps.push_back(std::move(s));
    } catch (const std::exception&) {
      continue;
    }
  }
  push([&](TrainingUpdate& u) {
    u.steps.insert(u.steps.end(), old.steps.begin(), old.steps.end());
    u.epochs.insert(u.epochs.end(), old.epochs.begin(), old.epochs.end());
  });
}

}  // namespace kd::ui
