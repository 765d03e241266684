#pragma once
#include <cstdint>
#include <string>

#include "common/progress.h"
#include "data/dataset.h"

namespace kd {

/// How images read from a folder are converted.
struct ImageFolderOptions {
  int64_t size = 32;  ///< every image is resized to size x size (aspect ratio not kept)
  int channels = 3;   ///< 3 = RGB, 1 = grey
};

/// Loads an image classification dataset stored as image files:
///   DIR/train/<class>/*.png|jpg|jpeg|bmp|tif|webp|ppm|pgm...  and DIR/test/<class>/... (or
///   DIR/val/<class>/...). Classes are the train subfolders sorted by name; a test class must
///   also exist in train. A class folder holding only an images/ subfolder reads from it.
/// Also the Tiny-ImageNet layout: train/<wnid>/images/*.JPEG, val/images/*.JPEG labelled by
///   val/val_annotations.txt (file, tab, wnid, ...). When DIR/words.txt exists (wnid, tab,
///   names), a class is named by the first name listed for it.
/// Images are decoded in parallel with OpenCV, converted to RGB (or grey) and resized (INTER_AREA
/// when shrinking). Throws kd::Error naming the folder or file for a missing train folder, an
/// empty class folder, an image that cannot be decoded or a test class unknown to train;
/// kd::Cancelled when `progress` asks to stop.
Dataset load_image_folder(const std::string& dir, const ImageFolderOptions& opt = {},
                          ProgressSink* progress = nullptr);

/// True when `dir` looks like an image folder dataset (it has a train/ subfolder).
bool has_image_folder_layout(const std::string& dir);

}  // namespace kd
