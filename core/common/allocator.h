#pragma once
// Memory allocator settings for training (docs/performance.md, "What dominated").

namespace kd {

/// What tune_allocator() did.
enum class AllocatorTuning {
  kApplied,      ///< the thresholds below are set
  kUserSettings, ///< the user chose glibc malloc settings in the environment: left alone
  kUnsupported,  ///< not glibc: nothing to do
};

/// Keeps memory freed by one training step in the process for the next one. With glibc's
/// defaults every activation buffer above the (dynamic, at most 32 MiB) mmap threshold is
/// mapped and unmapped again at each step, and the top of the heap is trimmed back to the
/// kernel, so every step page-faults its working set in afresh: a quarter of a CPU training
/// step was spent in the kernel. This sets M_MMAP_THRESHOLD to 256 MiB and M_TRIM_THRESHOLD to
/// 1 GiB (freed memory up to that much stays reserved; release_free_memory() returns it). It
/// does nothing when MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES is set.
/// Numbers computed do not change. Call it once, at start-up, before the heavy work.
AllocatorTuning tune_allocator();

/// Gives freed heap memory back to the operating system (after a run or an analysis).
void release_free_memory();

}  // namespace kd
