#pragma once
#include <c10/util/Exception.h>

#include <QString>
#include <exception>

#include "common/error.h"

namespace kd::ui {

/// Runs f on a worker thread's behalf and turns any exception into the message shown to the
/// user (no exception may reach the event loop); returns an empty string on success.
template <typename F>
QString runGuarded(F&& f) {
  try {
    f();
  } catch (const kd::Error& e) {
    return QString::fromStdString(e.what());
  } catch (const c10::Error& e) {
    return QString::fromStdString(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

}  // namespace kd::ui
