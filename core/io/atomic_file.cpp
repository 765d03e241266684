#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace kd {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::string tmpl = path_ + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    throw Error("cannot write " + path_ + ": " + std::strerror(errno) +
                " (is the folder there and writable?)");
  }
  temp_path_ = tmpl;
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    ::close(fd);
    fail(std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) std::remove(temp_path_.c_str());
}

void AtomicFile::fail(const std::string& what) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  std::remove(temp_path_.c_str());
  temp_path_.clear();
  throw Error("cannot write " + path_ + ": " + what);
}

void AtomicFile::write(const void* data, size_t size) {
  if (file_ == nullptr) throw Error("cannot write " + path_ + ": file already closed");
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) fail(std::strerror(errno));
}

void AtomicFile::commit() {
  if (file_ == nullptr) throw Error("cannot write " + path_ + ": file already closed");
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) fail(std::strerror(errno));
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) fail(std::strerror(errno));
  // Keep the permissions a normally created file would get (mkstemp makes it 0600).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(temp_path_.c_str(), 0666 & ~mask);
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) fail(std::strerror(errno));
  committed_ = true;
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  AtomicFile file(path);
  file.write(contents.data(), contents.size());
  file.commit();
}

}  // namespace kd
