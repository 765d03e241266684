#include "common/allocator.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace kd {

AllocatorTuning tune_allocator() {
#if defined(__GLIBC__)
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    if (std::getenv(name) != nullptr) return AllocatorTuning::kUserSettings;
  }
  constexpr int kMmapThreshold = 256 << 20;
  constexpr int kTrimThreshold = 1 << 30;
  const bool ok = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return ok ? AllocatorTuning::kApplied : AllocatorTuning::kUnsupported;
#else
  return AllocatorTuning::kUnsupported;
#endif
}

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace kd
