#include "data/idx_reader.h"

#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "common/error.h"
#include "data/file_bytes.h"

namespace kd {
namespace {

namespace fs = std::filesystem;

/// IDX element type code for unsigned bytes, the only type image datasets use.
constexpr uint8_t kIdxUnsignedByte = 0x08;
/// The apt command that installs Fashion-MNIST into kDefaultFashionMnistDir.
constexpr const char* kFashionMnistInstallHint =
    ". Install Fashion-MNIST with: sudo apt-get install dataset-fashion-mnist";

/// A parsed IDX header with a view of its data (which lives in the caller's buffer).
struct IdxArray {
  std::vector<int64_t> dims;
  const uint8_t* data = nullptr;
};

uint32_t read_big_endian_u32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string text;
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? " x " : "") + std::to_string(dims[i]);
  return text;
}

std::string hex_byte(uint8_t value) {
  static const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[value >> 4] + digits[value & 15];
}

/// Product of the sizes, saturating instead of overflowing (sizes come from untrusted headers).
uint64_t element_count(const std::vector<int64_t>& dims) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t count = 1;
  for (int64_t d : dims) {
    const auto size = static_cast<uint64_t>(d);
    if (size != 0 && count > kMax / size) return kMax;
    count *= size;
  }
  return count;
}

void check_magic(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() < 4) {
    throw Error(name + ": too short to be an IDX file (" + std::to_string(bytes.size()) +
                " bytes)");
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    throw Error(name + ": not an IDX file (bad magic number " + hex_byte(bytes[0]) + " " +
                hex_byte(bytes[1]) + ", expected 0x00 0x00)");
  }
  if (bytes[2] != kIdxUnsignedByte) {
    throw Error(name + ": IDX element type " + hex_byte(bytes[2]) +
                " is not supported (only unsigned bytes, 0x08)");
  }
}

/// Checks the header and that the data is exactly as long as the header declares.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name,
                   const std::vector<int>& allowed_ndims, const std::string& what) {
  check_magic(bytes, name);
  const int ndim = bytes[3];
  bool allowed = false;
  std::string allowed_text;
  for (int n : allowed_ndims) {
    allowed = allowed || n == ndim;
    allowed_text += (allowed_text.empty() ? "" : " or ") + std::to_string(n);
  }
  if (!allowed) {
    throw Error(name + ": IDX " + what + " file has " + std::to_string(ndim) +
                " dimensions, expected " + allowed_text);
  }
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header) throw Error(name + ": truncated IDX header");

  IdxArray array;
  for (int i = 0; i < ndim; ++i) array.dims.push_back(read_big_endian_u32(&bytes[4 + 4 * i]));
  array.data = bytes.data() + header;
  const uint64_t declared = element_count(array.dims);
  const uint64_t present = bytes.size() - header;
  if (present < declared) {
    throw Error(name + ": truncated file: the header declares " + dims_text(array.dims) +
                " values but only " + std::to_string(present) + " bytes of data follow");
  }
  if (present > declared) {
    throw Error(name + ": " + std::to_string(present - declared) + " unexpected bytes after the " +
                std::to_string(declared) + " bytes of data the header declares (" +
                dims_text(array.dims) + ")");
  }
  return array;
}

torch::Tensor images_tensor(const IdxArray& array, const std::string& name) {
  const auto& d = array.dims;
  if (d[0] == 0) throw Error(name + ": contains no images");
  const int64_t channels = d.size() == 4 ? d[3] : 1;
  if (d[1] == 0 || d[2] == 0) throw Error(name + ": images have zero size (" + dims_text(d) + ")");
  if (channels != 1 && channels != 3) {
    throw Error(name + ": images have " + std::to_string(channels) + " channels, expected 1 or 3");
  }
  auto* data = const_cast<uint8_t*>(array.data);  // read only: copied below
  if (d.size() == 3) return torch::from_blob(data, {d[0], 1, d[1], d[2]}, torch::kUInt8).clone();
  return torch::from_blob(data, {d[0], d[1], d[2], channels}, torch::kUInt8)
      .permute({0, 3, 1, 2})
      .contiguous();
}

torch::Tensor labels_tensor(const IdxArray& array) {
  const int64_t count = array.dims[0];
  torch::Tensor labels = torch::empty({count}, torch::kInt64);
  int64_t* out = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) out[i] = array.data[i];
  return labels;
}

/// The first existing file among the accepted spellings of `stem` + `suffix` in `dir`.
std::optional<std::string> find_idx_file(const std::string& dir, const std::string& stem,
                                         const std::string& suffix,
                                         std::vector<std::string>* looked_for = nullptr) {
  for (const char* sep : {"-", "."}) {
    for (const char* ext : {"", ".gz"}) {
      const std::string file = stem + sep + suffix + ext;
      if (looked_for) looked_for->push_back(file);
      const fs::path path = fs::path(dir) / file;
      std::error_code ec;
      if (fs::is_regular_file(path, ec)) return path.string();
    }
  }
  return std::nullopt;
}

std::string require_idx_file(const std::string& dir, const std::string& stem,
                             const std::string& suffix, const std::string& dataset,
                             const std::string& hint) {
  std::vector<std::string> looked_for;
  if (auto path = find_idx_file(dir, stem, suffix, &looked_for)) return *path;
  std::string list;
  for (const auto& f : looked_for) list += (list.empty() ? "" : ", ") + f;
  throw Error(dataset + ": cannot find " + stem + " in " + dir + " (looked for " + list + ")" +
              hint);
}

DatasetSplit read_idx_split(const std::string& dir, const std::string& prefix,
                            const std::string& dataset, const std::string& hint,
                            std::string* labels_path) {
  const std::string images = require_idx_file(dir, prefix + "-images", "idx3-ubyte", dataset, hint);
  *labels_path = require_idx_file(dir, prefix + "-labels", "idx1-ubyte", dataset, hint);
  return parse_idx_split(read_file_bytes(images), read_file_bytes(*labels_path), images,
                         *labels_path);
}

/// Throws naming `file` when a label is not in [0, classes); `why` explains the class count.
void check_label_range(const torch::Tensor& labels, int64_t classes, const std::string& file,
                       const std::string& why) {
  const int64_t* data = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    if (data[i] < 0 || data[i] >= classes) {
      throw Error(file + ": label " + std::to_string(data[i]) + " at position " +
                  std::to_string(i) + " is out of range: " + why + " (labels 0.." +
                  std::to_string(classes - 1) + ")");
    }
  }
}

std::vector<std::string> numbered_names(int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(std::to_string(i));
  return names;
}

Dataset load_idx(const std::string& dir, const std::string& name,
                 std::vector<std::string> class_names, const std::string& hint) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(name + ": folder " + dir + " does not exist" + hint);
  Dataset dataset;
  dataset.name = name;
  dataset.source = dir;
  std::string train_labels, test_labels;
  dataset.train = read_idx_split(dir, "train", name, hint, &train_labels);
  dataset.test = read_idx_split(dir, "t10k", name, hint, &test_labels);

  std::string why;
  if (class_names.empty()) {
    class_names = numbered_names(dataset.train.labels.max().item<int64_t>() + 1);
    why = "the training labels define " + std::to_string(class_names.size()) + " classes";
  } else {
    why = name + " has " + std::to_string(class_names.size()) + " classes";
  }
  const auto classes = static_cast<int64_t>(class_names.size());
  check_label_range(dataset.train.labels, classes, train_labels, why);
  check_label_range(dataset.test.labels, classes, test_labels, why);
  dataset.class_names = std::move(class_names);
  return dataset;
}

bool is_default_fashion_mnist_dir(const std::string& dir) {
  const auto normal = [](const std::string& p) {
    std::string s = fs::path(p).lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  return normal(dir) == normal(kDefaultFashionMnistDir);
}

}  // namespace

DatasetSplit parse_idx_split(const std::vector<uint8_t>& images, const std::vector<uint8_t>& labels,
                             const std::string& images_name, const std::string& labels_name) {
  const IdxArray image_array = parse_idx(images, images_name, {3, 4}, "image");
  const IdxArray label_array = parse_idx(labels, labels_name, {1}, "label");
  if (image_array.dims[0] != label_array.dims[0]) {
    throw Error(images_name + " holds " + std::to_string(image_array.dims[0]) + " images but " +
                labels_name + " holds " + std::to_string(label_array.dims[0]) + " labels");
  }
  DatasetSplit split;
  split.images = images_tensor(image_array, images_name);
  split.labels = labels_tensor(label_array);
  return split;
}

Dataset load_idx_dataset(const std::string& dir, const std::string& name,
                         std::vector<std::string> class_names) {
  return load_idx(dir, name, std::move(class_names), "");
}

bool has_idx_files(const std::string& dir) {
  return find_idx_file(dir, "train-images", "idx3-ubyte").has_value();
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

Dataset load_fashion_mnist(const std::string& dir) {
  const std::string hint = is_default_fashion_mnist_dir(dir) ? kFashionMnistInstallHint : "";
  return load_idx(dir, "Fashion-MNIST", fashion_mnist_class_names(), hint);
}

Dataset load_mnist(const std::string& dir) {
  return load_idx(dir, "MNIST", numbered_names(10), "");
}

}  // namespace kd
