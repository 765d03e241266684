#pragma once

namespace kd::cli {

/// While one is alive, Ctrl-C (SIGINT) and SIGTERM (scancel, a Slurm preemption, the sweep
/// queue) ask the running operation to stop cleanly instead of killing the process. Scopes may
/// nest and share one flag; the first resets it, the last restores the default handlers.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  /// True once a stop signal arrived while a scope was alive.
  static bool requested();
};

}  // namespace kd::cli
