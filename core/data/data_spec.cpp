#include "data/data_spec.h"

#include <cstdlib>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "data/cifar_reader.h"
#include "data/default_paths.h"
#include "data/idx_reader.h"
#include "data/image_folder_reader.h"

namespace kd {
namespace {

namespace fs = std::filesystem;

/// What each dataset kind needs and accepts.
struct KindInfo {
  std::string name;
  bool needs_location;
  std::vector<std::string> options;
  std::string help;
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> table = {
      {"fashion-mnist", false, {}, "Fashion-MNIST IDX files (default DIR: see below)"},
      {"mnist", true, {}, "MNIST IDX files in DIR"},
      {"idx", true, {}, "any MNIST-style IDX files in DIR (classes from the labels)"},
      {"cifar10", true, {}, "CIFAR-10 binary version in DIR"},
      {"cifar100", true, {"labels"}, "CIFAR-100 binary version in DIR; labels=fine|coarse"},
      {"folder",
       true,
       {"size", "channels"},
       "DIR/train/<class>/*.png|jpg... and DIR/test|val/<class>; size=N (32), channels=1|3 (3)"},
  };
  return table;
}

const KindInfo* find_kind(const std::string& name) {
  for (const auto& kind : kinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

std::string kind_list() {
  std::vector<std::string> names;
  for (const auto& kind : kinds()) names.push_back(kind.name);
  return joined(names);
}

bool is_dir(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_directory(path, ec);
}

std::string detect_kind(const std::string& dir) {
  if (has_idx_files(dir)) return "idx";
  if (has_cifar10_files(dir)) return "cifar10";
  if (has_cifar100_files(dir)) return "cifar100";
  if (has_image_folder_layout(dir)) return "folder";
  throw Error(dir +
              ": cannot tell which dataset this folder holds (no IDX files, CIFAR binary "
              "files or train/ folder); name the kind, e.g. folder:" +
              dir);
}

int64_t parse_int(const std::string& key, const std::string& value) {
  int64_t number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error("dataset option " + key + "=" + value + ": expected a whole number");
  }
  return number;
}

void check_option_value(const std::string& key, const std::string& value) {
  if (key == "labels" && value != "fine" && value != "coarse") {
    throw Error("dataset option labels=" + value + ": expected fine or coarse");
  }
  if (key == "channels" && value != "1" && value != "3") {
    throw Error("dataset option channels=" + value + ": expected 1 or 3");
  }
  if (key == "size" && (parse_int(key, value) < 1 || parse_int(key, value) > 4096)) {
    throw Error("dataset option size=" + value + ": expected a size from 1 to 4096");
  }
}

void validate(const DataSpec& spec) {
  const KindInfo* kind = find_kind(spec.kind);
  if (!kind) {
    throw Error("unknown dataset kind '" + spec.kind + "' (valid kinds: " + kind_list() + ")");
  }
  if (kind->needs_location && spec.location.empty()) {
    throw Error("dataset kind '" + spec.kind + "' needs a folder: " + spec.kind + ":DIR");
  }
  for (const auto& [key, value] : spec.options) {
    if (std::find(kind->options.begin(), kind->options.end(), key) == kind->options.end()) {
      throw Error("unknown option '" + key + "' for dataset kind '" + spec.kind + "' (" +
                  (kind->options.empty() ? "it takes no options"
                                         : "valid options: " + joined(kind->options)) +
                  ")");
    }
    check_option_value(key, value);
  }
}

std::map<std::string, std::string> parse_options(const std::string& query,
                                                 const std::string& text) {
  std::map<std::string, std::string> options;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string item = query.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error("malformed option '" + item + "' in dataset spec '" + text +
                  "' (expected key=value)");
    }
    if (!options.emplace(item.substr(0, eq), item.substr(eq + 1)).second) {
      throw Error("option '" + item.substr(0, eq) + "' given twice in dataset spec '" + text + "'");
    }
    start = end + 1;
  }
  return options;
}

std::string option_or(const DataSpec& spec, const std::string& key, const std::string& fallback) {
  const auto it = spec.options.find(key);
  return it != spec.options.end() ? it->second : fallback;
}

std::string folder_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

namespace {

/// "~/x" -> "$HOME/x": the shell does not expand a '~' that follows "kind:".
std::string expand_home(const std::string& path) {
  const char* home = std::getenv("HOME");
  if (home != nullptr && (path == "~" || path.rfind("~/", 0) == 0)) return home + path.substr(1);
  return path;
}

}  // namespace

DataSpec parse_data_spec(const std::string& text) {
  const size_t question = text.find('?');
  const std::string head = text.substr(0, question);
  DataSpec spec;
  const size_t colon = head.find(':');
  const std::string prefix = head.substr(0, colon);
  if (find_kind(prefix)) {
    spec.kind = prefix;
    if (colon != std::string::npos) spec.location = expand_home(head.substr(colon + 1));
  } else if (is_dir(head)) {
    spec.kind = detect_kind(head);
    spec.location = head;
  } else if (prefix.find('/') != std::string::npos) {  // a path, not a misspelt kind
    throw Error("dataset spec '" + text + "': folder " + head + " does not exist");
  } else {
    throw Error("unknown dataset kind '" + prefix + "' in '" + text +
                "' (valid kinds: " + kind_list() + "; or give an existing folder)");
  }
  if (question != std::string::npos) spec.options = parse_options(text.substr(question + 1), text);
  validate(spec);
  return spec;
}

std::string format_data_spec(const DataSpec& spec) {
  std::string text = spec.kind;
  if (!spec.location.empty()) text += ":" + spec.location;
  char separator = '?';
  for (const auto& [key, value] : spec.options) {
    text += separator + key + "=" + value;
    separator = '&';
  }
  return text;
}

Dataset load_dataset(const DataSpec& spec, ProgressSink* progress) {
  validate(spec);
  const std::string& dir = spec.location;
  if (spec.kind == "fashion-mnist")
    return load_fashion_mnist(dir.empty() ? kDefaultFashionMnistDir : dir);
  if (spec.kind == "mnist") return load_mnist(dir);
  if (spec.kind == "idx") return load_idx_dataset(dir, folder_name(dir));
  if (spec.kind == "cifar10") return load_cifar10(dir);
  if (spec.kind == "cifar100") {
    const bool coarse = option_or(spec, "labels", "fine") == "coarse";
    return load_cifar100(dir, coarse ? Cifar100Labels::kCoarse : Cifar100Labels::kFine);
  }
  ImageFolderOptions options;
  options.size = parse_int("size", option_or(spec, "size", std::to_string(options.size)));
  options.channels = static_cast<int>(
      parse_int("channels", option_or(spec, "channels", std::to_string(options.channels))));
  return load_image_folder(dir, options, progress);
}

Dataset load_dataset(const std::string& spec, ProgressSink* progress) {
  return load_dataset(parse_data_spec(spec), progress);
}

std::string data_spec_help() {
  std::string text = "Dataset: KIND[:DIR][?key=value&...] or an existing folder (detected).\n";
  for (const auto& kind : kinds()) {
    text += "  " + kind.name + (kind.needs_location ? ":DIR" : "[:DIR]") + "  " + kind.help + "\n";
  }
  text.append("Fashion-MNIST's default DIR: ").append(kDefaultFashionMnistDir).append("\n");
  return text;
}

}  // namespace kd
