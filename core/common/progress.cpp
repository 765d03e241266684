#include "common/progress.h"

#include "common/error.h"

namespace kd {

void throw_if_cancelled(const ProgressSink* sink) {
  if (sink != nullptr && sink->cancelled()) throw Cancelled();
}

}  // namespace kd
