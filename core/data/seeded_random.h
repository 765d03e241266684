#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace kd {

/// Combines seed words into one well-mixed 64-bit seed (splitmix64 steps), so that nearby
/// inputs such as (seed, epoch) and (seed, epoch + 1) give unrelated random streams.
constexpr uint64_t mix_seed(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (uint64_t word : {a, b, c}) {
    state += word + 0x9e3779b97f4a7c15ull;
    state = (state ^ (state >> 30)) * 0xbf58476d1ce4e5b9ull;
    state = (state ^ (state >> 27)) * 0x94d049bb133111ebull;
    state ^= state >> 31;
  }
  return state;
}

/// A seeded random source that gives the same numbers on every platform and library version:
/// std::mt19937_64's output is fixed by the C++ standard, but the std distributions are not,
/// so bounded draws and shuffles are implemented here.
class SeededRandom {
 public:
  /// A generator started from `seed`.
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}

  /// The next raw 64-bit value.
  uint64_t next() { return engine_(); }

  /// A uniform value in [0, n), n > 0, without modulo bias.
  uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // values under it would favour small results
    for (;;) {
      const uint64_t r = engine_();
      if (r >= threshold) return r % n;
    }
  }

  /// true with probability 1/2.
  bool coin() { return (engine_() >> 63) != 0; }

  /// Moves a uniform random choice of min(k, size) elements to the front of `values`, in
  /// random order (the first k steps of a Fisher-Yates shuffle, so a larger k extends the
  /// choice of a smaller one).
  template <typename T>
  void choose_front(std::vector<T>& values, size_t k) {
    const size_t n = values.size();
    for (size_t i = 0; i < k && i + 1 < n; ++i) {
      const size_t j = i + static_cast<size_t>(below(n - i));
      std::swap(values[i], values[j]);
    }
  }

  /// Shuffles `values` uniformly (Fisher-Yates).
  template <typename T>
  void shuffle(std::vector<T>& values) {
    choose_front(values, values.size());
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace kd
