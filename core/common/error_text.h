#pragma once
// The part of an exception's message worth showing a user: LibTorch's errors (c10::Error) carry a
// backtrace and several lines of context after the first.
#include <c10/util/Exception.h>

#include <exception>
#include <sstream>
#include <string>

namespace kd {

/// The first non-empty line of `e`'s message, without LibTorch's backtrace.
inline std::string first_error_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::istringstream in(c10_error ? c10_error->what_without_backtrace() : e.what());
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
  }
  return "unknown error";
}

}  // namespace kd
