#include "io/text_file.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace kd {

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": cannot read the file (a folder)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read the file (" + std::strerror(errno) + ")");
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) throw Error(path + ": cannot read the file");
  return s.str();
}

std::string safe_file_name(const std::string& text, const std::string& fallback) {
  std::string out;
  for (char ch : text) {
    const bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
    out += ok ? ch : '_';
  }
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  return out.empty() ? fallback : out.substr(0, 60);
}

}  // namespace kd
