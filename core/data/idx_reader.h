#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/default_paths.h"

namespace kd {

/// Parses one split from the bytes of an IDX image file and an IDX label file (the format of
/// MNIST and Fashion-MNIST: magic 0,0,0x08,ndim then big-endian uint32 sizes, then the data).
/// Images are N x H x W (grey, become N x 1 x H x W) or N x H x W x C with C = 1 or 3 (become
/// N x C x H x W); labels are N values. The names are used in error messages. Throws kd::Error
/// for a wrong magic number or element type, a truncated file, bytes after the declared data,
/// zero images, or image and label counts that differ. Labels are not range-checked here.
DatasetSplit parse_idx_split(const std::vector<uint8_t>& images, const std::vector<uint8_t>& labels,
                             const std::string& images_name, const std::string& labels_name);

/// Loads an MNIST-style dataset from `dir`: train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally gzipped (".gz") and with
/// "." instead of the last "-" (train-images.idx3-ubyte). Labels must lie in [0, classes): with
/// class_names given, classes = its size; when empty, classes = largest training label + 1 and
/// the names are "0", "1", ... Throws kd::Error naming the file that is missing or wrong.
Dataset load_idx_dataset(const std::string& dir, const std::string& name,
                         std::vector<std::string> class_names = {});

/// True when `dir` holds IDX training images under one of the names load_idx_dataset accepts.
bool has_idx_files(const std::string& dir);

/// Fashion-MNIST's ten class names, in label order ("T-shirt/top" ... "Ankle boot").
const std::vector<std::string>& fashion_mnist_class_names();

/// Loads Fashion-MNIST (60000 + 10000 grey 28 x 28 images, 10 classes) from its IDX files. For
/// the default folder, a missing-file error says which Debian package installs it.
Dataset load_fashion_mnist(const std::string& dir = kDefaultFashionMnistDir);

/// Loads MNIST (digits, classes "0".."9") from its IDX files in `dir`.
Dataset load_mnist(const std::string& dir);

}  // namespace kd
