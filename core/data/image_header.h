#pragma once
// The pixel size an image file declares in its header, read without decoding it, so that a tiny
// file cannot make the decoder allocate gigabytes (docs/reliability.md).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace kd {

/// Largest image, in pixels, that the image folder reader decodes (about 8192 x 8192).
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

struct ImageDims {
  int64_t width = 0, height = 0;
};

/// Width and height declared by a PNG, JPEG, BMP, GIF, PNM, WebP or TIFF header in `data` (the
/// first bytes of a file; 64 KiB is plenty for JPEG), or nullopt for other formats or headers
/// too short to tell.
std::optional<ImageDims> declared_image_dims(const uint8_t* data, size_t size);

/// Whether `data` starts with the signature of a format the image folder reader decodes: PNG,
/// JPEG, BMP, PNM (P1-P6), WebP or TIFF. OpenCV picks its decoder by these bytes, not by the file
/// name, and some of its other decoders abort the process on malformed input (GDCM's DICOM
/// reader asserts), so nothing else may reach it.
bool has_supported_image_signature(const uint8_t* data, size_t size);

/// Throws kd::Error naming `path` when it does not start with a supported signature, or its
/// header declares more than kMaxImagePixels pixels (or a zero size).
void check_image_header(const std::string& path);

}  // namespace kd
