#pragma once
// Models that ship with KD Studio (resources/models/), found installed or in the source tree.
#include <string>

namespace kd {

/// File name of the bundled Fashion-MNIST teacher.
inline constexpr const char* kBundledTeacherFile = "fashion-mnist-teacher.kdmodel";
/// The zoo spec the bundled teacher was trained from (resources/models/README.md).
inline constexpr const char* kBundledTeacherSpec = "resnet18:channels=1,size=28,width=0.25";
/// The default student on Fashion-MNIST.
inline constexpr const char* kDefaultStudentSpec = "resnet9:channels=1,size=28,width=0.125";

/// The bundled teacher's path: $KDSTUDIO_TEACHER when set and a file, else the installed copy
/// (<exe>/../share/kdstudio/models), else the source tree's; empty when none exists.
std::string bundled_teacher_path();

}  // namespace kd
