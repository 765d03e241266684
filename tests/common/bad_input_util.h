#pragma once
// Helpers of the bad-input tests (tests/core/test_bad_inputs.cpp, test_bad_files.cpp).
#include <QStringList>
#include <QtTest/QtTest>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace kdtest {

using Bytes = std::vector<uint8_t>;

/// A safetensors file: 8-byte little-endian header length, the header text, then `data`.
inline Bytes safetensors_bytes(const std::string& header, const Bytes& data = {},
                               uint64_t length = 0) {
  const uint64_t len = length ? length : header.size();
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

/// Files in `dir` (recursively) whose name marks an unfinished atomic write.
inline QStringList temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  QStringList out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (contains(it->path().filename().string(), ".tmp-")) {
      out << QString::fromStdString(it->path().string());
    }
  }
  return out;
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

}  // namespace kdtest

/// Fails the test unless `message` contains `part`, showing both.
#define VERIFY_HAS(message, part)                                                  \
  QVERIFY2(kdtest::contains(message, part),                                        \
           (std::string("expected '") + (part) + "' in: " + (message)).c_str())
