#pragma once
#include <stdexcept>
#include <string>

namespace kd {

/// The one exception type core throws for bad input or a failed operation. Its message is
/// written for the user: it names the file, layer or setting and says what is wrong.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Thrown by long operations when the user cancelled them.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

}  // namespace kd
