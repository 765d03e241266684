#include "stop_signals.h"

#include <atomic>
#include <csignal>

namespace kd::cli {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_depth{0};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

}  // namespace

StopSignals::StopSignals() {
  if (g_depth.fetch_add(1) == 0) {
    g_stop.store(false);
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
}

StopSignals::~StopSignals() {
  if (g_depth.fetch_sub(1) == 1) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
  }
}

bool StopSignals::requested() { return g_stop.load(); }

}  // namespace kd::cli
