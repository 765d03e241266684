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

/// The device (CUDA or CPU) could not allocate what a step needed. The message names the
/// device and the batch size and says what to try; nothing written so far is lost.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

/// Whether a LibTorch or OpenCV error message reports a failed allocation (CUDA's "out of
/// memory", the CPU allocator's "can't allocate memory" / "not enough memory").
inline bool is_out_of_memory_message(const std::string& message) {
  for (const char* sign : {"out of memory", "can't allocate memory", "not enough memory",
                           "Insufficient memory"}) {
    if (message.find(sign) != std::string::npos) return true;
  }
  return false;
}

}  // namespace kd
