#pragma once
// Small file helpers shared by the experiment and sweep code.
#include <string>

namespace kd {

/// The whole file as text; throws kd::Error "<path>: cannot read the file (<reason>)".
std::string read_text_file(const std::string& path);

/// A folder or file name made of `text`: letters, digits, '-', '_' and '.' kept, anything else
/// '_', no leading dot, at most 60 characters; `fallback` when nothing is left.
std::string safe_file_name(const std::string& text, const std::string& fallback);

}  // namespace kd
