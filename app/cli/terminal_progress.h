#pragma once
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "common/progress.h"
#include "stop_signals.h"

namespace kd::cli {

/// Progress on stderr: a redrawn bar on a terminal, a line per 10% (or new stage) otherwise.
/// Ctrl-C or SIGTERM while it is alive asks the operation to stop cleanly (cancelled() turns true).
class TerminalProgress final : public ProgressSink {
 public:
  explicit TerminalProgress(std::string title);
  ~TerminalProgress() override;
  void progress(double fraction, const std::string& message) override;
  bool cancelled() const override;
  /// Ends the bar's line.
  void finish();

 private:
  StopSignals stop_signals_;
  std::string title_;
  bool tty_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_draw_{};
  int last_decile_ = -1;
  bool drawn_ = false;
};

}  // namespace kd::cli
