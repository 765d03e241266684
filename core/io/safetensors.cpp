#include "io/safetensors.h"

#include <torch/torch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/atomic_file.h"

namespace kd {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; big-endian hosts are not supported");

namespace {

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};

constexpr DtypeName kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool}};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes) {
    if (d.type == t) return d.name;
  }
  throw Error(std::string("cannot store tensors of type ") + c10::toString(t) + " in safetensors");
}

torch::ScalarType dtype_from_name(const std::string& n, const std::string& file) {
  for (const auto& d : kDtypes) {
    if (n == d.name) return d.type;
  }
  throw Error(file + ": unsupported tensor dtype '" + n + "'");
}

struct Entry {
  std::string name;
  torch::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& key, const nlohmann::json& v, const std::string& file) {
  const std::string where = file + ": tensor '" + key + "'";
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
      !v.contains("data_offsets")) {
    throw Error(where + " needs dtype, shape and data_offsets");
  }
  if (!v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
      v["data_offsets"].size() != 2) {
    throw Error(where + " has a malformed dtype, shape or data_offsets");
  }
  Entry e;
  e.name = key;
  e.type = dtype_from_name(v["dtype"].get<std::string>(), file);
  uint64_t numel = 1;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) throw Error(where + " has a negative or non-integer dimension");
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(where + " declares an absurd dimension");
    }
    if (dim > 0 && numel > std::numeric_limits<uint64_t>::max() / 2 / dim) {
      throw Error(where + " declares an absurd number of elements");
    }
    numel *= dim;
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  for (const auto& o : v["data_offsets"]) {
    if (!o.is_number_unsigned()) throw Error(where + " has invalid data_offsets");
  }
  e.begin = v["data_offsets"][0].get<uint64_t>();
  e.end = v["data_offsets"][1].get<uint64_t>();
  const uint64_t item = c10::elementSize(e.type);
  if (e.end < e.begin || numel > (e.end - e.begin) || numel * item != e.end - e.begin) {
    throw Error(where + ": data_offsets do not match its shape and dtype");
  }
  return e;
}

}  // namespace

SafetensorsContent parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8) throw Error(name + " is too short to be a safetensors file (" + std::to_string(size) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);
  if (header_len > kMaxSafetensorsHeader || header_len > size - 8) {
    throw Error(name + " is not a valid safetensors file: its header length (" +
                std::to_string(header_len) + " bytes) is larger than the file or the limit");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(name + " is not a valid safetensors file: its header is not JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw Error(name + ": the safetensors header is not a JSON object");
  const uint8_t* blob = data + 8 + header_len;
  const uint64_t blob_size = size - 8 - header_len;

  SafetensorsContent out;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) throw Error(name + ": __metadata__ must be an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) throw Error(name + ": metadata '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), it.value(), name));
  }
  // The tensors must tile the data section exactly: no gaps, no overlaps, nothing past the end.
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  uint64_t expected = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != expected) throw Error(name + ": tensor data of '" + e->name + "' overlaps or leaves a gap");
    expected = e->end;
  }
  if (expected != blob_size) {
    throw Error(name + " is truncated or has trailing bytes: the header describes " +
                std::to_string(expected) + " bytes of tensor data, the file holds " +
                std::to_string(blob_size));
  }
  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), blob + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsContent read_safetensors(const std::string& path) {
  // The size comes from the file system, never from a stream position: a folder or a device
  // reports absurd "sizes" (an ext4 folder seeks to 2^63 - 1) that must not become allocations.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) throw Error(path + " is a folder, not a file");
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    throw Error(path + " is not a regular file");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path + " (missing or unreadable)");
  const auto on_disk = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read " + path + ": " + ec.message());
  const auto size = static_cast<std::streamsize>(on_disk);
  std::vector<uint8_t> bytes(static_cast<size_t>(on_disk));
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw Error("cannot read " + path);
  }
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [key, tensor] : tensors) {
    if (key == "__metadata__" || header.contains(key)) throw Error("duplicate or reserved tensor name '" + key + "'");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[key] = {{"dtype", dtype_name(t.scalar_type())},
                   {"shape", t.sizes().vec()},
                   {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  const uint64_t len = text.size();
  AtomicFile file(path);
  file.write(&len, 8);
  file.write(text.data(), text.size());
  for (const auto& t : cpu) file.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  file.commit();
}

}  // namespace kd
