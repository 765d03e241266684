#include "data/image_folder_reader.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "data/image_header.h"

namespace kd {
namespace {

namespace fs = std::filesystem;

/// File extensions (lower case) read as images.
const std::set<std::string> kImageExtensions = {".png",  ".jpg",  ".jpeg", ".jpe", ".bmp", ".tif",
                                                ".tiff", ".webp", ".ppm",  ".pgm", ".pbm", ".pnm"};
/// Most decoding threads, however many cores the machine has.
constexpr unsigned kMaxDecodeThreads = 16;
/// Images decoded between two progress reports (and cancel checks).
constexpr size_t kProgressEvery = 256;
/// Largest accepted image side after resizing.
constexpr int64_t kMaxSize = 4096;

/// One image to decode and where its C x S x S bytes go.
struct DecodeJob {
  std::string path;
  uint8_t* dest = nullptr;
};

/// The files of one split with their labels.
struct SplitFiles {
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
};

bool is_hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kImageExtensions.count(ext) > 0 && !is_hidden(p);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

/// Entries of `folder` (sorted by name) that are folders (`folders`) or image files.
std::vector<fs::path> list_sorted(const fs::path& folder, bool folders) {
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) throw Error(folder.string() + ": cannot list folder: " + ec.message());
  std::vector<fs::path> entries;
  for (const auto& entry : it) {
    const bool dir = entry.is_directory(ec);
    if (folders ? (dir && !is_hidden(entry.path())) : (!dir && is_image_file(entry.path()))) {
      entries.push_back(entry.path());
    }
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

/// The images of one class folder; Tiny-ImageNet keeps them in an images/ subfolder.
std::vector<fs::path> class_images(const fs::path& class_dir) {
  std::vector<fs::path> images = list_sorted(class_dir, false);
  if (images.empty() && is_dir(class_dir / "images"))
    images = list_sorted(class_dir / "images", false);
  if (images.empty()) {
    throw Error(class_dir.string() +
                ": class folder contains no images (.png, .jpg, .jpeg, .bmp, .tif, .webp, ...)");
  }
  return images;
}

void add_class(SplitFiles& files, const fs::path& class_dir, int64_t label) {
  for (const auto& image : class_images(class_dir)) {
    files.paths.push_back(image.string());
    files.labels.push_back(label);
  }
}

SplitFiles train_files(const fs::path& train_dir, std::vector<std::string>* class_ids) {
  const auto class_dirs = list_sorted(train_dir, true);
  if (class_dirs.empty()) throw Error(train_dir.string() + ": no class folders in it");
  SplitFiles files;
  for (const auto& class_dir : class_dirs) {
    add_class(files, class_dir, static_cast<int64_t>(class_ids->size()));
    class_ids->push_back(class_dir.filename().string());
  }
  return files;
}

int64_t label_of(const std::vector<std::string>& class_ids, const std::string& id,
                 const std::string& where) {
  const auto it = std::find(class_ids.begin(), class_ids.end(), id);
  if (it == class_ids.end()) {
    throw Error(where + ": class '" + id + "' does not exist in the training set");
  }
  return it - class_ids.begin();
}

SplitFiles class_folder_files(const fs::path& split_dir,
                              const std::vector<std::string>& class_ids) {
  const auto class_dirs = list_sorted(split_dir, true);
  if (class_dirs.empty()) throw Error(split_dir.string() + ": no class folders in it");
  SplitFiles files;
  for (const auto& class_dir : class_dirs) {
    add_class(files, class_dir,
              label_of(class_ids, class_dir.filename().string(), class_dir.string()));
  }
  return files;
}

/// Tiny-ImageNet validation: val/images/<file> labelled by val_annotations.txt lines
/// "<file>\t<wnid>\t<box...>".
SplitFiles annotated_files(const fs::path& val_dir, const std::vector<std::string>& class_ids) {
  const fs::path annotations = val_dir / "val_annotations.txt";
  std::ifstream in(annotations);
  if (!in) throw Error(annotations.string() + ": cannot open");
  SplitFiles files;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string file, wnid;
    if (!std::getline(fields, file, '\t') || !std::getline(fields, wnid, '\t') || wnid.empty()) {
      throw Error(annotations.string() + ", line " + std::to_string(line_number) +
                  ": expected <file> TAB <class>");
    }
    const std::string where = annotations.string() + ", line " + std::to_string(line_number);
    files.labels.push_back(label_of(class_ids, wnid, where));
    files.paths.push_back((val_dir / "images" / file).string());
  }
  if (files.paths.empty()) throw Error(annotations.string() + ": lists no images");
  return files;
}

SplitFiles test_files(const fs::path& root, const std::vector<std::string>& class_ids) {
  if (fs::exists(root / "val" / "val_annotations.txt")) {
    return annotated_files(root / "val", class_ids);
  }
  for (const char* name : {"test", "val"}) {
    if (is_dir(root / name)) return class_folder_files(root / name, class_ids);
  }
  throw Error(root.string() + ": no test/ or val/ folder (expected test/<class>/<images> or " +
              "val/<class>/<images>)");
}

/// Class names: the first name words.txt gives for each id, else the id itself.
std::vector<std::string> class_names(const fs::path& root, const std::vector<std::string>& ids) {
  std::map<std::string, std::string> words;
  std::ifstream in(root / "words.txt");
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string text = line.substr(tab + 1, line.find_first_of(",\r", tab + 1) - tab - 1);
    words[line.substr(0, tab)] = text;
  }
  std::vector<std::string> names;
  for (const auto& id : ids) {
    const auto it = words.find(id);
    names.push_back(it != words.end() && !it->second.empty() ? it->second : id);
  }
  return names;
}

/// Decodes one image into C x S x S bytes at job.dest (RGB or grey, resized).
void decode_image(const DecodeJob& job, const ImageFolderOptions& opt) {
  check_image_header(job.path);  // before the decoder allocates what the header claims
  cv::Mat image = cv::imread(job.path, opt.channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (image.empty()) throw Error(job.path + ": cannot read or decode the image");
  const int size = static_cast<int>(opt.size);
  if (image.cols != size || image.rows != size) {
    const bool shrinking = image.cols > size || image.rows > size;
    cv::Mat resized;
    cv::resize(image, resized, cv::Size(size, size), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    image = resized;
  }
  if (opt.channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  const int channels = opt.channels;
  const size_t plane = static_cast<size_t>(size) * size;
  for (int y = 0; y < size; ++y) {
    const uint8_t* row = image.ptr<uint8_t>(y);
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < channels; ++c) job.dest[c * plane + y * size + x] = row[x * channels + c];
    }
  }
}

/// Joins every joinable thread of a list when it goes out of scope, also during unwinding.
struct JoinAll {
  std::vector<std::thread>& threads;
  ~JoinAll() {
    for (auto& thread : threads) {
      if (thread.joinable()) thread.join();
    }
  }
};

/// Decodes all jobs on several threads; throws the first failure, or kd::Cancelled.
void decode_all(const std::vector<DecodeJob>& jobs, const ImageFolderOptions& opt,
                ProgressSink* progress) {
  std::atomic<size_t> next{0}, done{0};
  std::atomic<bool> stop{false}, cancelled{false};
  std::mutex error_mutex;
  std::string error;
  const auto fail = [&](const std::string& message) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (error.empty()) error = message;
    stop = true;
  };
  const auto work = [&] {
    for (size_t i = next++; i < jobs.size() && !stop; i = next++) {
      try {
        decode_image(jobs[i], opt);
      } catch (const Error& e) {
        fail(e.what());
      } catch (const std::exception& e) {  // cv::Exception, std::bad_alloc
        fail(jobs[i].path + ": " + e.what());
      }
      const size_t finished = ++done;
      if (progress && finished % kProgressEvery == 0) {
        if (progress->cancelled()) cancelled = stop = true;
        progress->progress(static_cast<double>(finished) / jobs.size(), "Reading images");
      }
    }
  };
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min<size_t>({cores, kMaxDecodeThreads, jobs.size() / 8 + 1});
  {
    std::vector<std::thread> helpers;
    const JoinAll join_helpers{helpers};
    for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
    work();
  }
  if (cancelled) throw Cancelled();
  if (!error.empty()) throw Error(error);
  if (progress) progress->progress(1.0, "Reading images");
}

DatasetSplit allocate_split(const SplitFiles& files, const ImageFolderOptions& opt,
                            std::vector<DecodeJob>* jobs) {
  const auto count = static_cast<int64_t>(files.paths.size());
  DatasetSplit split;
  split.images = torch::empty({count, opt.channels, opt.size, opt.size}, torch::kUInt8);
  split.labels = torch::tensor(files.labels, torch::kInt64);
  uint8_t* base = split.images.data_ptr<uint8_t>();
  const int64_t image_bytes = opt.channels * opt.size * opt.size;
  for (int64_t i = 0; i < count; ++i) jobs->push_back({files.paths[i], base + i * image_bytes});
  return split;
}

std::string folder_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Dataset load_image_folder(const std::string& dir, const ImageFolderOptions& opt,
                          ProgressSink* progress) {
  if (opt.channels != 1 && opt.channels != 3) {
    throw Error("image folder: channels must be 1 or 3, not " + std::to_string(opt.channels));
  }
  if (opt.size < 1 || opt.size > kMaxSize) {
    throw Error("image folder: size must be between 1 and " + std::to_string(kMaxSize));
  }
  const fs::path root(dir);
  if (!is_dir(root)) throw Error(dir + ": folder does not exist");
  if (!is_dir(root / "train")) {
    throw Error(dir + ": no train folder (expected " + (root / "train").string() +
                "/<class>/<images>)");
  }
  std::vector<std::string> class_ids;
  const SplitFiles train = train_files(root / "train", &class_ids);
  const SplitFiles test = test_files(root, class_ids);

  Dataset dataset;
  dataset.name = folder_name(dir);
  dataset.source = dir;
  dataset.class_names = class_names(root, class_ids);
  std::vector<DecodeJob> jobs;
  dataset.train = allocate_split(train, opt, &jobs);
  dataset.test = allocate_split(test, opt, &jobs);
  decode_all(jobs, opt, progress);
  return dataset;
}

bool has_image_folder_layout(const std::string& dir) { return is_dir(fs::path(dir) / "train"); }

}  // namespace kd
