#pragma once
#include <chrono>
#include <mutex>
#include <string>

#include "distill/trainer.h"
#include "stop_signals.h"

namespace kd::cli {

/// Shows training on stderr: a redrawn status line on a terminal (epoch, batch, losses, LR,
/// images per second, ETA), a line per epoch always, and a line every 30 s when not on a
/// terminal. Ctrl-C or SIGTERM stops training cleanly (the last checkpoint stays, resume continues).
class TrainProgress final : public TrainObserver {
 public:
  TrainProgress();
  ~TrainProgress() override;
  void on_stage(const std::string& what, double fraction) override;
  void on_seed(int index, int count, uint64_t seed) override;
  void on_step(const StepReport& r) override;
  void on_epoch(const EpochReport& r) override;
  void on_note(const std::string& text) override;
  void on_geometry_probe(const GeometryProbe& probe) override;
  void on_geometry(const GeometrySnapshot& snapshot) override;
  bool cancelled() const override;

 private:
  void end_line();
  StopSignals stop_signals_;
  bool tty_;
  std::mutex mutex_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{}, last_line_{};
  int seed_index_ = 0, seed_count_ = 1;
  GeometryProbe probe_;
};

/// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace kd::cli
