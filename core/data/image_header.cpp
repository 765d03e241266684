#include "data/image_header.h"

#include <algorithm>
#include <cstring>
#include <cctype>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace kd {
namespace {

/// Bytes of a file read to find its size: enough for JPEG files with large EXIF blocks.
constexpr size_t kHeaderBytes = 64 * 1024;

uint32_t be16(const uint8_t* p) { return uint32_t{p[0]} << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return uint32_t{p[1]} << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return le16(p + 2) << 16 | le16(p); }

std::optional<ImageDims> jpeg_dims(const uint8_t* d, size_t n) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return std::nullopt;
    const uint8_t marker = d[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // markers without a length
      continue;
    }
    const size_t length = be16(d + i + 2);
    if (length < 2) return std::nullopt;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                     marker != 0xCC;
    if (sof) {
      if (i + 9 > n) return std::nullopt;
      return ImageDims{be16(d + i + 7), be16(d + i + 5)};
    }
    i += 2 + length;
  }
  return std::nullopt;
}

/// PNM (P1 to P6): magic, then width and height as decimal text, with comments after '#'.
std::optional<ImageDims> pnm_dims(const uint8_t* d, size_t n) {
  int64_t values[2] = {0, 0};
  size_t i = 2;
  for (int64_t& v : values) {
    for (;;) {  // skip blanks and comments
      if (i >= n) return std::nullopt;
      if (d[i] == '#') {
        while (i < n && d[i] != '\n') ++i;
      } else if (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n') {
        ++i;
      } else {
        break;
      }
    }
    if (d[i] < '0' || d[i] > '9') return std::nullopt;
    for (; i < n && d[i] >= '0' && d[i] <= '9'; ++i) {
      v = v * 10 + (d[i] - '0');
      if (v > (int64_t{1} << 40)) return ImageDims{v, v};  // absurd either way
    }
  }
  return ImageDims{values[0], values[1]};
}

/// WebP: RIFF container with a VP8 (lossy), VP8L (lossless) or VP8X (extended) first chunk.
std::optional<ImageDims> webp_dims(const uint8_t* d, size_t n) {
  if (n < 30) return std::nullopt;
  if (std::equal(d + 12, d + 16, "VP8X")) {
    const uint32_t w = uint32_t{d[24]} | uint32_t{d[25]} << 8 | uint32_t{d[26]} << 16;
    const uint32_t h = uint32_t{d[27]} | uint32_t{d[28]} << 8 | uint32_t{d[29]} << 16;
    return ImageDims{int64_t{w} + 1, int64_t{h} + 1};
  }
  if (std::equal(d + 12, d + 16, "VP8L")) {
    const uint32_t bits = le32(d + 21);
    return ImageDims{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
  }
  if (std::equal(d + 12, d + 16, "VP8 ")) return ImageDims{le16(d + 26) & 0x3FFF, le16(d + 28) & 0x3FFF};
  return std::nullopt;
}

/// TIFF: ImageWidth (256) and ImageLength (257) in the first image file directory.
std::optional<ImageDims> tiff_dims(const uint8_t* d, size_t n) {
  const bool little = d[0] == 'I';
  const auto u16 = [&](size_t at) { return little ? le16(d + at) : be16(d + at); };
  const auto u32 = [&](size_t at) { return little ? le32(d + at) : be32(d + at); };
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return std::nullopt;
  const size_t count = u16(ifd);
  ImageDims dims;
  for (size_t k = 0; k < count && ifd + 2 + 12 * (k + 1) <= n; ++k) {
    const size_t e = ifd + 2 + 12 * k;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const int64_t value = type == 3 ? u16(e + 8) : u32(e + 8);  // SHORT or LONG
    if (tag == 256) dims.width = value;
    if (tag == 257) dims.height = value;
  }
  if (dims.width == 0 && dims.height == 0) return std::nullopt;
  return dims;
}

}  // namespace

std::optional<ImageDims> declared_image_dims(const uint8_t* d, size_t n) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 24 && std::equal(kPng, kPng + 8, d)) return ImageDims{be32(d + 16), be32(d + 20)};
  if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) return jpeg_dims(d, n);
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    const auto w = static_cast<int32_t>(le32(d + 18));
    const auto h = static_cast<int32_t>(le32(d + 22));  // negative: stored top-down
    return ImageDims{w < 0 ? -int64_t{w} : w, h < 0 ? -int64_t{h} : h};
  }
  if (n >= 10 && d[0] == 'G' && d[1] == 'I' && d[2] == 'F') return ImageDims{le16(d + 6), le16(d + 8)};
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6') return pnm_dims(d, n);
  if (n >= 16 && std::equal(d, d + 4, "RIFF") && std::equal(d + 8, d + 12, "WEBP")) {
    return webp_dims(d, n);
  }
  if (n >= 8 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0) ||
                 (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))) {
    return tiff_dims(d, n);
  }
  return std::nullopt;
}

bool has_supported_image_signature(const uint8_t* data, size_t size) {
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return size >= at + n && std::memcmp(data + at, magic, n) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8) || starts("\xff\xd8\xff", 3) || starts("BM", 2)) return true;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return true;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return true;
  // PNM as OpenCV recognises it: 'P', a digit 1-6, white space.
  return size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6' &&
         std::isspace(static_cast<unsigned char>(data[2])) != 0;
}

void check_image_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> head(kHeaderBytes);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  const auto got = static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0));
  if (!has_supported_image_signature(head.data(), got)) {
    throw Error(path + ": not a PNG, JPEG, BMP, PNM, WebP or TIFF image (its first bytes match "
                "none of them); convert it to one of these");
  }
  const auto dims = declared_image_dims(head.data(), got);
  if (!dims) return;
  if (dims->width == 0 || dims->height == 0) {
    throw Error(path + ": the image header declares a zero size (" + std::to_string(dims->width) +
                " x " + std::to_string(dims->height) + ")");
  }
  if (dims->width > kMaxImagePixels / dims->height) {
    throw Error(path + ": the image header declares " + std::to_string(dims->width) + " x " +
                std::to_string(dims->height) + " pixels, more than the limit of " +
                std::to_string(kMaxImagePixels) + " pixels; shrink the image first");
  }
}

}  // namespace kd
