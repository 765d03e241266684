#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kd {

/// Largest file read_file_bytes accepts unless told otherwise (4 GiB, after decompression):
/// a guard against filling memory with a wrong or hostile file.
inline constexpr uint64_t kDefaultMaxFileBytes = uint64_t{4} << 30;

/// Reads a whole file into memory. A gzip-compressed file (e.g. "*.gz") is decompressed on the
/// fly; any other file is returned as it is. Throws kd::Error naming the file when it is missing,
/// unreadable, corrupt gzip data, or holds more than max_bytes (decompressed).
std::vector<uint8_t> read_file_bytes(const std::string& path,
                                     uint64_t max_bytes = kDefaultMaxFileBytes);

}  // namespace kd
