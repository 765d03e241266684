#pragma once
// Helpers shared by the fuzz targets.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace kdfuzz {

/// Writes the input to one temporary file per process (for parsers that take a path) and
/// returns its path. The file is removed at exit.
inline std::string as_file(const uint8_t* data, size_t size, const char* suffix) {
  static std::string path = [suffix] {
    std::string p = std::string("/tmp/kdfuzz-XXXXXX") + suffix;
    const int fd = ::mkstemps(p.data(), static_cast<int>(std::string(suffix).size()));
    if (fd < 0) std::abort();
    ::close(fd);
    static const std::string keep = p;
    std::atexit([] { std::remove(keep.c_str()); });
    return p;
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace kdfuzz
