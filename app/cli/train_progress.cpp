#include "train_progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>

namespace kd::cli {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(200);     // terminal line refresh
constexpr auto kPlainInterval = std::chrono::seconds(30);   // progress lines in logs

std::string losses_text(const LossValues& losses) {
  std::string t;
  for (const auto& [name, v] : losses) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%s %.4f", t.empty() ? "" : ", ", name.c_str(), v);
    t += buf;
  }
  return t;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

TrainProgress::TrainProgress() : tty_(::isatty(STDERR_FILENO) != 0) {
  last_line_ = std::chrono::steady_clock::now();
}

TrainProgress::~TrainProgress() {
  end_line();
}

bool TrainProgress::cancelled() const { return StopSignals::requested(); }

void TrainProgress::end_line() {
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

void TrainProgress::on_stage(const std::string& what, double fraction) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < kRedraw && fraction < 1.0) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r%-40s %3d%%", what.c_str(), static_cast<int>(fraction * 100));
    drawn_ = true;
  } else if (fraction >= 1.0 || now - last_line_ > kPlainInterval) {
    last_line_ = now;
    std::fprintf(stderr, "%s %3d%%\n", what.c_str(), static_cast<int>(fraction * 100));
  }
  std::fflush(stderr);
}

void TrainProgress::on_seed(int index, int count, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  end_line();
  seed_index_ = index;
  seed_count_ = count;
  std::fprintf(stderr, "seed %llu (%d of %d)\n", static_cast<unsigned long long>(seed), index + 1, count);
}

void TrainProgress::on_step(const StepReport& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  char line[320];
  std::snprintf(line, sizeof line,
                "epoch %d/%d  batch %lld/%lld  loss %.4f (%s)  lr %.2e  %.0f img/s  ETA %s",
                r.epoch + 1, r.epochs, static_cast<long long>(r.batch),
                static_cast<long long>(r.batches), r.loss, losses_text(r.losses).c_str(), r.lr,
                r.images_per_second, format_duration(r.eta_seconds).c_str());
  if (tty_) {
    if (now - last_draw_ < kRedraw) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r%-150.150s", line);
    drawn_ = true;
  } else if (now - last_line_ > kPlainInterval) {
    last_line_ = now;
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void TrainProgress::on_epoch(const EpochReport& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  end_line();
  std::fprintf(stderr, "epoch %d/%d  loss %.4f (%s)  train %.2f%%  test %.2f%%%s  %s\n",
               r.epoch + 1, r.epochs, r.loss, losses_text(r.losses).c_str(), r.train_acc,
               r.test_acc, r.best ? " (best)" : "", format_duration(r.seconds).c_str());
  last_line_ = std::chrono::steady_clock::now();
  std::fflush(stderr);
}

void TrainProgress::on_geometry_probe(const GeometryProbe& probe) {
  std::lock_guard<std::mutex> lock(mutex_);
  probe_ = probe;
}

// One line per end-of-epoch snapshot: per pair, CKA to its teacher layer and Q against the
// teacher layer's (both on the probe).
void TrainProgress::on_geometry(const GeometrySnapshot& s) {
  if (s.partial) return;
  std::lock_guard<std::mutex> lock(mutex_);
  end_line();
  std::string text = s.epoch < 0 ? "geometry before training:" : "geometry:";
  for (size_t i = 0; i < s.pairs.size() && i < probe_.pairs.size(); ++i) {
    char part[160];
    std::snprintf(part, sizeof part, "  %d->%d CKA %.2f Q %.2f/%.2f", probe_.pairs[i].teacher_layer,
                  probe_.pairs[i].student_layer, s.pairs[i].cka, s.pairs[i].student.quality,
                  probe_.pairs[i].teacher.quality);
    text += part;
  }
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

void TrainProgress::on_note(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  end_line();
  std::fprintf(stderr, "note: %s\n", text.c_str());
}

}  // namespace kd::cli
