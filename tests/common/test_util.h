#pragma once
// Small helpers shared by the Qt Test executables.
#include <QString>
#include <QTemporaryDir>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <zlib.h>

#include "common/error.h"

namespace kdtest {

/// Path of a committed fixture file (tests/fixtures/<name>).
inline std::string fixture(const std::string& name) {
  std::string path = KD_FIXTURES_DIR;  // appended step by step: GCC 12 warns falsely on a + chain
  path += '/';
  path += name;
  return path;
}

/// Writes bytes to a file, replacing it.
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// Writes bytes gzip-compressed.
inline void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile g = gzopen(path.c_str(), "wb");
  gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(g);
}

/// Unpacks a gzip file to `dst`; false when `src` cannot be read.
inline bool gunzip_file(const std::string& src, const std::string& dst) {
  gzFile g = gzopen(src.c_str(), "rb");
  if (!g) return false;
  std::ofstream out(dst, std::ios::binary | std::ios::trunc);
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(g, buf, sizeof buf)) > 0) out.write(buf, n);
  gzclose(g);
  return n == 0 && static_cast<bool>(out);
}

/// Runs f and returns the message of the kd::Error it throws, "<not a kd::Error> ..." for any
/// other exception, or "<no error>".
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kd::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a kd::Error> ") + e.what();
  }
  return "<no error>";
}

}  // namespace kdtest
