#include "data/cifar_reader.h"

#include <c10/util/Exception.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/error.h"
#include "data/file_bytes.h"

namespace kd {
namespace {

namespace fs = std::filesystem;

/// Bytes of one CIFAR image: 3 planes of 32 x 32.
constexpr int64_t kImageBytes = 3 * 32 * 32;
/// CIFAR-10's training set comes in this many batch files.
constexpr int kCifar10TrainBatches = 5;
/// Class counts of CIFAR-10 and of CIFAR-100's fine and coarse labels.
constexpr int64_t kCifar10Classes = 10;
constexpr int64_t kCifar100FineClasses = 100;
constexpr int64_t kCifar100CoarseClasses = 20;

const std::vector<std::string>& cifar10_standard_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

bool exists_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

/// `dir` itself or its `subfolder`, whichever holds `marker`.
std::optional<fs::path> find_cifar_dir(const std::string& dir, const char* subfolder,
                                       const char* marker) {
  if (exists_file(fs::path(dir) / marker)) return fs::path(dir);
  if (exists_file(fs::path(dir) / subfolder / marker)) return fs::path(dir) / subfolder;
  return std::nullopt;
}

fs::path require_cifar_dir(const std::string& dir, const std::string& dataset,
                           const char* subfolder, const char* marker, const char* archive) {
  if (auto found = find_cifar_dir(dir, subfolder, marker)) return *found;
  throw Error(dataset + ": cannot find " + marker + " in " + dir + " or in " +
              (fs::path(dir) / subfolder).string() + " (expected the binary version, " + archive +
              ", extracted)");
}

std::string trimmed(const std::string& line) {
  const auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t\r\n") - first + 1);
}

/// Class names from a text file with one name per line (blank lines ignored), or `fallback`
/// when the file does not exist.
std::vector<std::string> read_class_names(const fs::path& file, int64_t num_classes,
                                          const std::vector<std::string>& fallback) {
  if (!exists_file(file)) return fallback;
  std::ifstream in(file);
  if (!in) throw Error(file.string() + ": cannot open");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (auto name = trimmed(line); !name.empty()) names.push_back(std::move(name));
  }
  if (static_cast<int64_t>(names.size()) != num_classes) {
    throw Error(file.string() + ": lists " + std::to_string(names.size()) +
                " class names, expected " + std::to_string(num_classes));
  }
  return names;
}

std::vector<std::string> numbered_class_names(int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i) names.push_back("class_" + std::to_string(i));
  return names;
}

DatasetSplit read_cifar_file(const fs::path& path, int label_bytes, int label_offset,
                             int64_t num_classes) {
  return parse_cifar_records(read_file_bytes(path.string()), label_bytes, label_offset, num_classes,
                             path.string());
}

}  // namespace

DatasetSplit parse_cifar_records(const std::vector<uint8_t>& bytes, int label_bytes,
                                 int label_offset, int64_t num_classes,
                                 const std::string& file_name) {
  TORCH_CHECK(label_bytes >= 1 && label_offset >= 0 && label_offset < label_bytes,
              "parse_cifar_records: label_offset must lie within the label bytes");
  TORCH_CHECK(num_classes >= 1, "parse_cifar_records: num_classes must be positive");
  const auto record = static_cast<size_t>(label_bytes + kImageBytes);
  if (bytes.empty()) throw Error(file_name + ": file is empty");
  if (bytes.size() % record != 0) {
    throw Error(file_name + ": truncated or not a CIFAR file: " + std::to_string(bytes.size()) +
                " bytes is not a whole number of " + std::to_string(record) + "-byte records (" +
                std::to_string(bytes.size() / record) + " records and " +
                std::to_string(bytes.size() % record) + " bytes left over)");
  }
  const auto count = static_cast<int64_t>(bytes.size() / record);
  DatasetSplit split;
  split.images = torch::empty({count, 3, 32, 32}, torch::kUInt8);
  split.labels = torch::empty({count}, torch::kInt64);
  uint8_t* images = split.images.data_ptr<uint8_t>();
  int64_t* labels = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* rec = bytes.data() + static_cast<size_t>(i) * record;
    labels[i] = rec[label_offset];
    if (labels[i] >= num_classes) {
      throw Error(file_name + ": record " + std::to_string(i) + " has label " +
                  std::to_string(labels[i]) + ", but there are only " +
                  std::to_string(num_classes) + " classes (labels 0.." +
                  std::to_string(num_classes - 1) + ")");
    }
    std::memcpy(images + i * kImageBytes, rec + label_bytes, kImageBytes);
  }
  return split;
}

Dataset load_cifar10(const std::string& dir) {
  const fs::path root = require_cifar_dir(dir, "CIFAR-10", "cifar-10-batches-bin",
                                          "data_batch_1.bin", "cifar-10-binary.tar.gz");
  std::vector<torch::Tensor> images, labels;
  for (int b = 1; b <= kCifar10TrainBatches; ++b) {
    const fs::path file = root / ("data_batch_" + std::to_string(b) + ".bin");
    DatasetSplit part = read_cifar_file(file, 1, 0, kCifar10Classes);
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  Dataset dataset;
  dataset.name = "CIFAR-10";
  dataset.source = root.string();
  dataset.train.images = torch::cat(images);
  dataset.train.labels = torch::cat(labels);
  dataset.test = read_cifar_file(root / "test_batch.bin", 1, 0, kCifar10Classes);
  dataset.class_names =
      read_class_names(root / "batches.meta.txt", kCifar10Classes, cifar10_standard_names());
  return dataset;
}

Dataset load_cifar100(const std::string& dir, Cifar100Labels labels) {
  const fs::path root = require_cifar_dir(dir, "CIFAR-100", "cifar-100-binary", "train.bin",
                                          "cifar-100-binary.tar.gz");
  const bool fine = labels == Cifar100Labels::kFine;
  const int64_t classes = fine ? kCifar100FineClasses : kCifar100CoarseClasses;
  const int offset = fine ? 1 : 0;  // records hold the coarse label, then the fine one
  Dataset dataset;
  dataset.name = fine ? "CIFAR-100" : "CIFAR-100 (coarse)";
  dataset.source = root.string();
  dataset.train = read_cifar_file(root / "train.bin", 2, offset, classes);
  dataset.test = read_cifar_file(root / "test.bin", 2, offset, classes);
  const char* names_file = fine ? "fine_label_names.txt" : "coarse_label_names.txt";
  dataset.class_names = read_class_names(root / names_file, classes, numbered_class_names(classes));
  return dataset;
}

bool has_cifar10_files(const std::string& dir) {
  return find_cifar_dir(dir, "cifar-10-batches-bin", "data_batch_1.bin").has_value();
}

bool has_cifar100_files(const std::string& dir) {
  return find_cifar_dir(dir, "cifar-100-binary", "train.bin").has_value();
}

}  // namespace kd
