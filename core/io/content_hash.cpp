#include "io/content_hash.h"

#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace kd {

ContentHash& ContentHash::add(const void* data, size_t size) {
  constexpr uint64_t kPrime = 1099511628211ull;  // FNV-1a 64-bit prime
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = state_;
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * kPrime;
  state_ = h;
  return *this;
}

ContentHash& ContentHash::add(const std::string& text) {
  const uint64_t n = text.size();
  add(&n, sizeof n);
  return add(text.data(), text.size());
}

ContentHash& ContentHash::add(const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  add(std::string(c10::toString(t.scalar_type())));
  for (int64_t d : t.sizes()) add(&d, sizeof d);
  return add(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
}

ContentHash& ContentHash::add_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path + " to hash it");
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    add(buf.data(), static_cast<size_t>(f.gcount()));
  }
  return *this;
}

std::string ContentHash::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(state_));
  return text;
}

}  // namespace kd
