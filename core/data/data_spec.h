#pragma once
#include <map>
#include <string>

#include "common/progress.h"
#include "data/dataset.h"

namespace kd {

/// A dataset named by the user: KIND[:LOCATION][?key=value&key=value], e.g. "fashion-mnist",
/// "cifar100:/data/cifar?labels=coarse", "folder:/data/pets?size=64&channels=3".
struct DataSpec {
  std::string kind;      ///< fashion-mnist, mnist, idx, cifar10, cifar100 or folder
  std::string location;  ///< a folder; empty for fashion-mnist's default folder
  std::map<std::string, std::string> options;
};

/// Parses a dataset spec. A bare existing folder (no kind) is detected from its files: IDX
/// files -> idx, CIFAR binary files -> cifar10/cifar100, a train/ subfolder -> folder. Throws
/// kd::Error for an unknown kind or option (listing the valid ones), a missing location, a
/// malformed option or a folder whose kind cannot be told.
DataSpec parse_data_spec(const std::string& text);

/// The spec as text, the inverse of parse_data_spec (for settings files and logs).
std::string format_data_spec(const DataSpec& spec);

/// Loads the dataset a spec names; throws kd::Error when it cannot.
Dataset load_dataset(const DataSpec& spec, ProgressSink* progress = nullptr);

/// Parses and loads a dataset spec.
Dataset load_dataset(const std::string& spec, ProgressSink* progress = nullptr);

/// A few lines for --help texts describing the spec grammar and kinds.
std::string data_spec_help();

}  // namespace kd
