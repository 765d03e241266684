#pragma once
// Force-included (-include) by the fuzz build, which compiles core as C++17 (see
// fuzz/CMakeLists.txt): the two C++20 library names core uses, for C++17.
#if __cplusplus < 202002L
#include <cstdint>
namespace std {
namespace numbers {
inline constexpr double pi = 3.141592653589793238462643383279502884;
}  // namespace numbers
enum class endian { little = __ORDER_LITTLE_ENDIAN__, big = __ORDER_BIG_ENDIAN__, native = __BYTE_ORDER__ };
}  // namespace std
#endif
