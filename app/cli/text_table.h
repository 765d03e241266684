#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace kd::cli {

/// A plain-text table with left- or right-aligned columns, printed with two-space gaps.
class TextTable {
 public:
  /// Column headers; a header starting with '>' is right-aligned (the '>' is not printed).
  explicit TextTable(std::vector<std::string> headers);
  /// Adds a row (missing cells print empty).
  void add_row(std::vector<std::string> cells);
  /// Prints headers, a rule and the rows.
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

/// "4,903,242" style thousands separators.
std::string group_digits(long long value);

}  // namespace kd::cli
