#pragma once
#include <atomic>
#include <string>

namespace kd {

/// Receives progress from long core operations. Implementations must be thread-safe: core may
/// call them from worker threads. The ui adapts this to Qt signals, the CLI to a terminal bar.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  /// fraction in [0,1]; message says what is being done now.
  virtual void progress(double fraction, const std::string& message) = 0;
  /// Polled by core between units of work; true stops the operation with kd::Cancelled.
  virtual bool cancelled() const { return false; }
};

/// A sink that ignores progress and is never cancelled.
class NullProgress final : public ProgressSink {
 public:
  void progress(double, const std::string&) override {}
};

/// Throws kd::Cancelled when the sink asks to stop (a null sink never does).
void throw_if_cancelled(const ProgressSink* sink);

}  // namespace kd
