#include "models/zoo/zoo_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "common/error.h"

namespace kd::zoo {

namespace {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

int64_t parse_int(const std::string& key, const std::string& value, int64_t lo, int64_t hi) {
  try {
    size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  throw Error("model option " + key + "=" + value + ": expected a whole number from " +
              std::to_string(lo) + " to " + std::to_string(hi));
}

double parse_width(const std::string& value) {
  try {
    size_t used = 0;
    const double v = std::stod(value, &used);
    if (used == value.size() && std::isfinite(v) && v > 0 && v <= 4) return v;
  } catch (const std::exception&) {
  }
  throw Error("model option width=" + value + ": expected a number in (0, 4], e.g. 0.25");
}

std::string format_width(double w) {
  // Shortest text that parses back to the same double: a saved spec must rebuild the same model.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, w);
  return std::string(buf, res.ptr);
}

}  // namespace

const std::vector<std::string>& zoo_architectures() {
  static const std::vector<std::string> names = {"resnet9",  "resnet18", "resnet34",
                                                 "mobilenetv2", "vgg11_bn", "vgg19_bn",
                                                 "vit_b",    "vit_ett"};
  return names;
}

bool looks_like_zoo_spec(const std::string& text) {
  const std::string arch = text.substr(0, text.find(':'));
  const auto& names = zoo_architectures();
  return std::find(names.begin(), names.end(), arch) != names.end();
}

std::string ZooSpec::to_string() const {
  const ZooSpec d;
  std::vector<std::string> opts;
  if (channels != d.channels) opts.push_back("channels=" + std::to_string(channels));
  if (size != d.size) opts.push_back("size=" + std::to_string(size));
  if (classes != d.classes) opts.push_back("classes=" + std::to_string(classes));
  if (width != d.width) opts.push_back("width=" + format_width(width));
  if (downsample != d.downsample) opts.push_back("downsample=" + downsample);
  return opts.empty() ? arch : arch + ":" + join(opts, ",");
}

bool ZooSpec::stem_downsamples() const {
  if (downsample == "on") return true;
  if (downsample == "off") return false;
  return size >= 64;
}

ZooSpec parse_zoo_spec(const std::string& text) {
  ZooSpec spec;
  const size_t colon = text.find(':');
  spec.arch = text.substr(0, colon);
  std::transform(spec.arch.begin(), spec.arch.end(), spec.arch.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  const auto& names = zoo_architectures();
  if (std::find(names.begin(), names.end(), spec.arch) == names.end()) {
    throw Error("unknown model '" + spec.arch + "' (the zoo has: " + join(names, ", ") +
                "; or give a path to a .pt TorchScript file or a .kdmodel checkpoint)");
  }
  if (colon == std::string::npos) return spec;
  std::stringstream rest(text.substr(colon + 1));
  std::string item;
  while (std::getline(rest, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw Error("model option '" + item + "' in '" + text + "': expected key=value");
    }
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "channels" || key == "in") {
      spec.channels = parse_int(key, value, 1, 64);
    } else if (key == "size") {
      spec.size = parse_int(key, value, 8, 1024);
    } else if (key == "classes") {
      spec.classes = parse_int(key, value, 2, 100000);
    } else if (key == "width") {
      spec.width = parse_width(value);
    } else if (key == "downsample") {
      if (value != "auto" && value != "on" && value != "off") {
        throw Error("model option downsample=" + value + ": expected auto, on or off");
      }
      spec.downsample = value;
    } else {
      throw Error("unknown model option '" + key + "' in '" + text +
                  "' (valid: channels, size, classes, width, downsample)");
    }
  }
  return spec;
}

}  // namespace kd::zoo
