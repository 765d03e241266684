#include "data/file_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>

#include "common/error.h"

namespace kd {
namespace {

/// Bytes asked from zlib per read call (gzread takes an unsigned int count).
constexpr uint64_t kReadChunk = uint64_t{1} << 22;

/// Closes a gzFile when it goes out of scope.
struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

/// Any limit above this is treated as this (it keeps max_bytes + 1 from overflowing).
constexpr uint64_t kLargestLimit = uint64_t{1} << 62;

/// Deflate cannot compress better than about 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1032;

void check_regular_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(path + ": file not found");
  if (fs::is_directory(status)) throw Error(path + ": is a folder, expected a file");
}

/// zlib's description of the last error on `file`, or "" when there was none.
std::string gz_error_text(gzFile file) {
  int code = Z_OK;
  const char* text = gzerror(file, &code);
  if (code == Z_OK || code == Z_STREAM_END) return {};
  if (code == Z_ERRNO) return std::error_code(errno, std::generic_category()).message();
  return text != nullptr ? text : "unknown zlib error";
}

/// Expected decompressed size, used only to reserve memory: the file size for plain files, the
/// gzip trailer's size field (the size modulo 4 GiB) for gzip ones, bounded by deflate's best
/// ratio so a forged trailer cannot make us reserve much more than the data can hold.
uint64_t size_hint(const std::string& path) {
  std::error_code ec;
  const auto on_disk = static_cast<uint64_t>(std::filesystem::file_size(path, ec));
  if (ec) return 0;
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  if (!in || magic[0] != 0x1f || magic[1] != 0x8b || on_disk < 18) return on_disk;
  unsigned char trailer[4] = {0, 0, 0, 0};
  in.seekg(-4, std::ios::end);
  in.read(reinterpret_cast<char*>(trailer), 4);
  if (!in) return on_disk;
  const uint64_t isize = uint64_t{trailer[0]} | uint64_t{trailer[1]} << 8 |
                         uint64_t{trailer[2]} << 16 | uint64_t{trailer[3]} << 24;
  return std::min(isize, on_disk * kMaxDeflateRatio);
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes) {
  check_regular_file(path);
  max_bytes = std::min(max_bytes, kLargestLimit);
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) {
    throw Error(path +
                ": cannot open: " + std::error_code(errno, std::generic_category()).message());
  }
  gzbuffer(file.get(), 1u << 18);

  std::vector<uint8_t> bytes;
  // One byte more than the hint so that the read that finds the end of file has room.
  bytes.resize(std::min(size_hint(path), max_bytes) + 1);
  uint64_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(std::min(used * 2 + kReadChunk, max_bytes + 1));
    // Never more than max_bytes + 1 bytes in all: enough to notice an oversized file.
    const uint64_t want = std::min<uint64_t>(bytes.size() - used, kReadChunk);
    const int got = gzread(file.get(), bytes.data() + used, static_cast<unsigned>(want));
    if (got < 0) throw Error(path + ": corrupt or unreadable data: " + gz_error_text(file.get()));
    used += static_cast<uint64_t>(got);
    if (used > max_bytes) {
      throw Error(path + ": file is larger than the limit of " + std::to_string(max_bytes) +
                  " bytes");
    }
    if (got == 0) break;
  }
  // A gzip stream cut short reads as a clean end of file but leaves an error behind.
  const std::string error = gz_error_text(file.get());
  if (!error.empty()) throw Error(path + ": corrupt or truncated gzip data: " + error);
  bytes.resize(used);
  if (bytes.capacity() > used + used / 4) bytes.shrink_to_fit();
  return bytes;
}

}  // namespace kd
