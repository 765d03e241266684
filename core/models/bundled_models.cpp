#include "models/bundled_models.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace kd {

std::string bundled_teacher_path() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("KDSTUDIO_TEACHER"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "share" / "kdstudio" / "models" / kBundledTeacherFile);
  }
  candidates.push_back(fs::path(KD_SOURCE_DIR) / "resources" / "models" / kBundledTeacherFile);
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return {};
}

}  // namespace kd
