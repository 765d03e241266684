#include "models/model_loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "models/model_file.h"
#include "models/scripted_model.h"
#include "models/zoo/zoo_builder.h"

namespace kd {

namespace {

enum class FileKind { kZip, kSafetensors, kUnknown };

FileKind sniff(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char head[9] = {0};
  f.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = f.gcount();
  if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
    return FileKind::kZip;
  }
  if (got == 9 && head[8] == '{') return FileKind::kSafetensors;
  return FileKind::kUnknown;
}

}  // namespace

const char* origin_name(ModelOrigin origin) {
  switch (origin) {
    case ModelOrigin::kZoo:
      return "zoo";
    case ModelOrigin::kModelFile:
      return "model file";
    case ModelOrigin::kTorchScript:
      return "TorchScript";
  }
  return "?";
}

InputShape parse_input_shape(const std::string& text) {
  std::stringstream s(text);
  std::string part;
  std::vector<int64_t> dims;
  while (std::getline(s, part, 'x')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0 || v > 8192) throw std::invalid_argument("range");
      dims.push_back(v);
    } catch (const std::exception&) {
      dims.clear();
      break;
    }
  }
  if (dims.size() != 3) {
    throw Error("input shape '" + text + "': expected CxHxW with positive sizes, e.g. 1x28x28");
  }
  return {dims[0], dims[1], dims[2]};
}

LoadedModel load_model(const std::string& spec, std::optional<InputShape> input) {
  LoadedModel out;
  out.source = spec;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(spec, ec)) {
    const std::string ext = fs::path(spec).extension().string();
    const bool file_like = spec.find('/') != std::string::npos || ext == ".pt" ||
                           ext == ".pth" || ext == ".kdmodel" || ext == ".safetensors";
    if (zoo::looks_like_zoo_spec(spec) || !file_like) {
      out.model = zoo::create_zoo_model(zoo::parse_zoo_spec(spec));
      out.origin = ModelOrigin::kZoo;
      return out;
    }
    throw Error("model file " + spec + " does not exist");
  }
  if (fs::is_directory(spec, ec)) throw Error(spec + " is a folder, not a model file");
  switch (sniff(spec)) {
    case FileKind::kZip: {
      auto scripted = load_torchscript(spec, input);
      out.note = scripted->partition_message();
      out.model = std::move(scripted);
      out.origin = ModelOrigin::kTorchScript;
      return out;
    }
    case FileKind::kSafetensors: {
      LoadedZooModel loaded = load_zoo_model(spec);
      out.model = std::move(loaded.model);
      out.metadata = std::move(loaded.metadata);
      out.origin = ModelOrigin::kModelFile;
      return out;
    }
    case FileKind::kUnknown:
      break;
  }
  throw Error(spec +
              " is neither a TorchScript archive (.pt from torch.jit.save) nor a KD Studio model "
              "file (.kdmodel); a pickled state_dict (torch.save) cannot be opened: export the "
              "model with torch.jit.script or torch.jit.trace instead");
}

}  // namespace kd
