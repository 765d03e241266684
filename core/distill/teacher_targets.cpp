#include "distill/teacher_targets.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <torch/torch.h>

#include "common/error.h"
#include "distill/losses.h"

namespace kd {

torch::Tensor reduce_teacher_feature(const torch::Tensor& t,
                                     const std::vector<int64_t>& student_shape) {
  if (student_shape.empty()) return t;
  std::vector<int64_t> dummy_shape{1};
  dummy_shape.insert(dummy_shape.end(), student_shape.begin(), student_shape.end());
  const torch::Tensor dummy = torch::zeros(dummy_shape, t.options()).expand(
      [&] {
        auto s = dummy_shape;
        s[0] = t.size(0);
        return s;
      }());
  torch::Tensor aligned = align_features(dummy, t).teacher;
  // Back to the teacher's own layout.
  if (t.dim() == 2) return aligned.reshape({t.size(0), t.size(1)});
  if (t.dim() == 3) return aligned.transpose(1, 2).contiguous();
  return aligned.contiguous();
}

TeacherBatch run_teacher(LayeredModel& teacher, const TeacherRequest& request,
                         const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  TeacherBatch out;
  if (request.empty()) return out;
  torch::Tensor logits;
  std::vector<int> unique = request.layers;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<torch::Tensor> feats;
  if (!unique.empty()) {
    feats = teacher.features(images, unique, request.logits ? &logits : nullptr);
  } else {
    logits = teacher.forward(images);
  }
  for (size_t i = 0; i < request.layers.size(); ++i) {
    const auto pos = std::lower_bound(unique.begin(), unique.end(), request.layers[i]) - unique.begin();
    const std::vector<int64_t> none;
    out.features.push_back(reduce_teacher_feature(
        feats[static_cast<size_t>(pos)], i < request.reduce_to.size() ? request.reduce_to[i] : none));
  }
  if (request.logits) out.logits = logits;
  return out;
}

namespace {

std::vector<int64_t> with_batch(int64_t n, const std::vector<int64_t>& shape) {
  std::vector<int64_t> s{n};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

// Per-sample shape of the targets of `request` (probed with one zero image).
std::vector<std::vector<int64_t>> target_shapes(LayeredModel& teacher,
                                                const TeacherRequest& request) {
  const InputShape in = teacher.input_shape();
  const torch::Device device = teacher.parameters().empty() ? torch::Device(torch::kCPU)
                                                            : teacher.parameters()[0].device();
  TeacherBatch probe =
      run_teacher(teacher, request, torch::zeros({1, in.channels, in.height, in.width},
                                                 torch::TensorOptions().device(device)));
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& f : probe.features) shapes.emplace_back(f.sizes().begin() + 1, f.sizes().end());
  if (request.logits) shapes.push_back({probe.logits.size(1)});
  return shapes;
}

}  // namespace

int64_t TeacherTargetCache::bytes_per_sample(const LayeredModel& teacher,
                                             const TeacherRequest& request, bool fp16) {
  int64_t elements = request.logits ? teacher.num_classes() : 0;
  for (size_t i = 0; i < request.layers.size(); ++i) {
    const auto& shape = teacher.layers().at(static_cast<size_t>(request.layers[i])).shape;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    // A reduction can only shrink a map: this is an upper bound when reduce_to is set.
    if (i < request.reduce_to.size() && !request.reduce_to[i].empty() && shape.size() == 3 &&
        request.reduce_to[i].size() == 3) {
      n = shape[0] * std::min(shape[1], request.reduce_to[i][1]) *
          std::min(shape[2], request.reduce_to[i][2]);
    }
    elements += n;
  }
  return elements * (fp16 ? 2 : 4);
}

torch::Tensor TeacherTargetCache::allocate(const std::vector<int64_t>& shape) {
  const auto dtype = options_.fp16 ? torch::kHalf : torch::kFloat;
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  const size_t bytes = static_cast<size_t>(numel) * (options_.fp16 ? 2 : 4);
  bytes_ += static_cast<int64_t>(bytes);
  if (options_.storage == CacheStorage::kMemory || bytes == 0) {
    return torch::empty(shape, dtype);
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.disk_dir, ec);
  std::string path = options_.disk_dir + "/teacher-targets-XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) {
    throw Error("cannot create the teacher target cache in " + options_.disk_dir + ": " +
                std::strerror(errno));
  }
  unlink(path.c_str());  // the mapping keeps the data; nothing is left on disk afterwards
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    close(fd);
    throw Error("cannot reserve " + std::to_string(bytes >> 20) + " MiB for the teacher target cache in " +
                options_.disk_dir + ": " + std::strerror(err));
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) {
    throw Error("cannot map the teacher target cache: " + std::string(std::strerror(errno)));
  }
  mappings_.emplace_back(data, bytes);
  return torch::from_blob(data, shape, torch::TensorOptions().dtype(dtype));
}

TeacherTargetCache::TeacherTargetCache(LayeredModel& teacher, const TeacherRequest& request,
                                       const DatasetSplit& split, const ChannelStats& stats,
                                       const std::vector<int64_t>& indices,
                                       const CacheOptions& options, ProgressSink* progress)
    : options_(options) {
  const torch::Device device(options.device);
  teacher.set_training(false);
  teacher.to(device);
  const std::unique_ptr<LayeredModel> copy =
      options.inference_copy ? teacher.inference_copy(device) : nullptr;
  LayeredModel& net = copy ? *copy : teacher;
  const int64_t n = static_cast<int64_t>(indices.size());
  const auto shapes = target_shapes(net, request);
  for (size_t i = 0; i < request.layers.size(); ++i) features_.push_back(allocate(with_batch(n, shapes[i])));
  if (request.logits) logits_ = allocate(with_batch(n, shapes.back()));
  row_of_ = torch::full({split.labels.size(0)}, -1, torch::kInt64);
  auto* row_of = row_of_.data_ptr<int64_t>();
  for (int64_t r = 0; r < n; ++r) row_of[indices[static_cast<size_t>(r)]] = r;

  const torch::Tensor all = torch::from_blob(const_cast<int64_t*>(indices.data()), {n}, torch::kInt64);
  const auto [first, last] = shard_rows(n, options.shard_rank, options.shard_count);
  for (int64_t begin = first; begin < last; begin += options.batch_size) {
    throw_if_cancelled(progress);
    const int64_t end = std::min(last, begin + options.batch_size);
    const torch::Tensor rows = all.slice(0, begin, end);
    const torch::Tensor images =
        to_normalized_float(split.images.index_select(0, rows), stats).to(device);
    TeacherBatch t = run_teacher(net, request, images);
    for (size_t i = 0; i < features_.size(); ++i) {
      features_[i].slice(0, begin, end).copy_(t.features[i].to(torch::kCPU));
    }
    if (request.logits) logits_.slice(0, begin, end).copy_(t.logits.to(torch::kCPU));
    if (progress) {
      progress->progress(static_cast<double>(end - first) / static_cast<double>(std::max<int64_t>(last - first, 1)),
                         "computing the teacher's targets");
    }
  }
}

std::vector<torch::Tensor> TeacherTargetCache::stores() const {
  std::vector<torch::Tensor> out = features_;
  if (logits_.defined()) out.push_back(logits_);
  return out;
}

std::pair<int64_t, int64_t> TeacherTargetCache::shard_rows(int64_t rows, int rank, int count) {
  if (count < 1 || rank < 0 || rank >= count) throw Error("cache shard " + std::to_string(rank) + " of " + std::to_string(count));
  return {rows * rank / count, rows * (rank + 1) / count};
}

TeacherTargetCache::~TeacherTargetCache() {
  features_.clear();
  logits_ = torch::Tensor();
  for (auto [data, bytes] : mappings_) munmap(data, bytes);
}

TeacherBatch TeacherTargetCache::gather(const torch::Tensor& samples,
                                        const torch::Device& device) const {
  const torch::Tensor rows = row_of_.index_select(0, samples.to(torch::kCPU));
  if (rows.numel() > 0 && rows.min().item<int64_t>() < 0) {
    throw Error("internal: a training sample is missing from the teacher target cache");
  }
  const auto fetch = [&](const torch::Tensor& store) {
    return store.index_select(0, rows).to(device, torch::kFloat, /*non_blocking=*/false);
  };
  TeacherBatch out;
  for (const auto& f : features_) out.features.push_back(fetch(f));
  if (logits_.defined()) out.logits = fetch(logits_);
  return out;
}

}  // namespace kd
