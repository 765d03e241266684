#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace kd {

/// Which labels a CIFAR-100 dataset is read with.
enum class Cifar100Labels {
  kFine,    ///< the 100 classes
  kCoarse,  ///< the 20 superclasses
};

/// Parses the records of one CIFAR binary file. Each record is `label_bytes` label bytes
/// followed by a 3 x 32 x 32 image stored channel by channel (R, G, B planes); the label used is
/// the byte at `label_offset` within the label bytes. Throws kd::Error naming `file_name` when
/// the size is not a whole number of records (truncated or not CIFAR), the file is empty, or a
/// label is not below `num_classes`. Images come out as N x 3 x 32 x 32.
DatasetSplit parse_cifar_records(const std::vector<uint8_t>& bytes, int label_bytes,
                                 int label_offset, int64_t num_classes,
                                 const std::string& file_name);

/// Loads CIFAR-10 from the binary version: data_batch_1..5.bin, test_batch.bin and
/// batches.meta.txt (class names; the standard names when it is missing). `dir` is the
/// extracted folder (cifar-10-batches-bin) or the folder that contains it.
Dataset load_cifar10(const std::string& dir);

/// Loads CIFAR-100 from the binary version: train.bin, test.bin and fine_label_names.txt or
/// coarse_label_names.txt ("class_N" names when missing). `dir` is the extracted folder
/// (cifar-100-binary) or the folder that contains it.
Dataset load_cifar100(const std::string& dir, Cifar100Labels labels = Cifar100Labels::kFine);

/// True when `dir` (or its cifar-10-batches-bin subfolder) holds CIFAR-10 binary batches.
bool has_cifar10_files(const std::string& dir);

/// True when `dir` (or its cifar-100-binary subfolder) holds CIFAR-100 binary files.
bool has_cifar100_files(const std::string& dir);

}  // namespace kd
