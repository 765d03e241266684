#include "terminal_progress.h"

#include <unistd.h>

#include <cstdio>

namespace kd::cli {

namespace {

constexpr int kBarWidth = 30;  // characters of the bar
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

TerminalProgress::TerminalProgress(std::string title)
    : title_(std::move(title)), tty_(::isatty(STDERR_FILENO) != 0) {
}

TerminalProgress::~TerminalProgress() {
  finish();
}

bool TerminalProgress::cancelled() const { return StopSignals::requested(); }

void TerminalProgress::progress(double fraction, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  fraction = std::min(1.0, std::max(0.0, fraction));
  const int percent = static_cast<int>(fraction * 100.0);
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < kRedrawInterval && fraction < 1.0) return;
    last_draw_ = now;
    const int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kBarWidth - filled), '.');
    std::string msg = message.substr(0, 60);
    std::fprintf(stderr, "\r%s [%s] %3d%%  %-60s", title_.c_str(), bar.c_str(), percent, msg.c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  const int decile = percent / 10;
  if (decile == last_decile_) return;
  last_decile_ = decile;
  std::fprintf(stderr, "%s %3d%%  %s\n", title_.c_str(), percent, message.c_str());
}

void TerminalProgress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace kd::cli
