#pragma once
#include <cstddef>
#include <cstdio>
#include <string>

namespace kd {

/// Writes a file so that readers see either the old file or the complete new one: data goes to
/// a temporary file in the same folder, is flushed and fsync'ed, then renamed over the target.
/// If commit() is never called (an exception, a cancel), the temporary file is removed.
class AtomicFile {
 public:
  /// Opens the temporary file; throws kd::Error naming the folder when it cannot be created.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends bytes; throws kd::Error (e.g. disk full) naming the target file.
  void write(const void* data, size_t size);
  /// Flushes, syncs and renames onto the target path.
  void commit();

 private:
  void fail(const std::string& what);
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

/// Writes `contents` to `path` through an AtomicFile.
void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace kd
