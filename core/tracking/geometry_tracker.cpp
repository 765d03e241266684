#include "tracking/geometry_tracker.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "analysis/cka_matrix.h"
#include "analysis/feature_extractor.h"
#include "analysis/geometry.h"
#include "analysis/knowledge_quality.h"
#include "common/error.h"
#include "data/balanced_subset.h"
#include "distill/method.h"
#include "distill/teacher_targets.h"
#include "io/atomic_file.h"
#include "io/text_file.h"

namespace kd {

namespace {

constexpr int64_t kProbeBatch = 128;
// Teacher layers whose probe features are held at once while their Gram matrices are formed.
constexpr int64_t kTeacherFeatureBudget = int64_t{256} << 20;

std::vector<float> coords_of(const torch::Tensor& xy) {
  const torch::Tensor c = xy.to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

QualityScores probe_quality(const torch::Tensor& feats, const torch::Tensor& labels,
                            int64_t classes, int64_t n_train) {
  return knowledge_quality(feats, labels, feats, labels, classes, n_train);
}

}  // namespace

std::string GeometryTracker::unsupported_reason(const ObjectiveSettings& objective) {
  if (method_traits(objective.method).feature_pairs) return {};
  return "geometry tracking follows one-to-one projected feature pairs; method '" +
         method_name(objective.method) + "' has none, so its geometry is not tracked";
}

GeometryTracker::GeometryTracker(const TrackingSettings& settings, const DatasetSplit& train,
                                 const std::vector<int64_t>& train_indices,
                                 const ChannelStats& stats, LayeredModel& teacher,
                                 LayeredModel& student, DistillObjective& objective,
                                 torch::Device device)
    : settings_(settings),
      stats_(stats),
      student_(student),
      objective_(objective),
      device_(device) {
  const std::string why = unsupported_reason(objective.settings());
  if (!why.empty()) throw Error(why);
  if (objective.projected_pairs() != objective.settings().student_layers.size()) {
    throw Error("geometry tracking: the objective has " + std::to_string(objective.projected_pairs()) +
                " projectors for " + std::to_string(objective.settings().student_layers.size()) +
                " student layers");
  }
  torch::NoGradGuard no_grad;
  const int64_t classes = teacher.num_classes();
  // The probe: class-balanced among the training subset, so that it is the data the run sees.
  const torch::Tensor subset = torch::tensor(train_indices, torch::kInt64);
  const torch::Tensor subset_labels = train.labels.index_select(0, subset);
  const int64_t subset_size = static_cast<int64_t>(train_indices.size());
  const int64_t cap = std::min<int64_t>(
      settings.max_samples,
      std::max<int64_t>(settings.min_samples,
                        static_cast<int64_t>(settings.max_fraction * static_cast<double>(subset_size))));
  const int64_t per_class =
      std::max<int64_t>(1, std::min(settings.per_class, cap / std::max<int64_t>(classes, 1)));
  const std::vector<int64_t> picked = balanced_subset(subset_labels, classes, per_class, settings.seed);
  if (picked.size() < 3) {
    throw Error("geometry tracking needs a probe of at least 3 samples; the training subset gives " +
                std::to_string(picked.size()));
  }
  const torch::Tensor rows = subset.index_select(0, torch::tensor(picked, torch::kInt64));
  images_ = train.images.index_select(0, rows);
  labels_ = train.labels.index_select(0, rows).to(torch::kInt64);
  labels_device_ = labels_.to(device_);
  const int64_t n = images_.size(0);

  probe_.num_classes = classes;
  probe_.n_train = static_cast<int64_t>(train_indices.size());
  probe_.class_names = settings.class_names;
  probe_.labels.assign(labels_.data_ptr<int64_t>(), labels_.data_ptr<int64_t>() + n);
  for (const LayerInfo& l : teacher.layers()) probe_.teacher_layers.push_back(l.name);

  // Every teacher layer, reduced to its centered Gram matrix as soon as it is computed; the
  // paired layers' S/I/E/Q on the way.
  const ObjectiveSettings& o = objective.settings();
  student_layers_ = o.student_layers;
  probe_.pairs.resize(o.teacher_layers.size());
  for (size_t i = 0; i < o.teacher_layers.size(); ++i) {
    ProbePair& p = probe_.pairs[i];
    p.teacher_layer = o.teacher_layers[i];
    p.student_layer = o.student_layers[i];
    p.teacher_name = teacher.layers().at(static_cast<size_t>(p.teacher_layer)).name;
    p.student_name = student.layers().at(static_cast<size_t>(p.student_layer)).name;
  }
  teacher_grams_.resize(teacher.layers().size());
  ExtractOptions extract;
  extract.batch_size = kProbeBatch;
  extract.device = device_;
  for (const std::vector<int>& group :
       group_layers_by_memory(teacher.layers(), n, kTeacherFeatureBudget)) {
    const std::vector<torch::Tensor> feats = extract_features(teacher, images_, stats_, group, extract);
    for (size_t g = 0; g < group.size(); ++g) {
      teacher_grams_[static_cast<size_t>(group[g])] = centered_gram(feats[g]);
      for (ProbePair& p : probe_.pairs) {
        if (p.teacher_layer == group[g]) {
          p.teacher = probe_quality(feats[g], labels_device_, classes, probe_.n_train);
        }
      }
    }
  }

  // The pairs' targets as the loss takes them (the teacher's features reduced to the student's
  // size), and their principal axes in the aligned layout.
  TeacherRequest request = objective.teacher_request();
  request.logits = false;
  objective.set_training(false);
  std::vector<std::vector<torch::Tensor>> target_parts(probe_.pairs.size()), aligned(probe_.pairs.size());
  for (int64_t begin = 0; begin < n; begin += kProbeBatch) {
    const int64_t end = std::min(n, begin + kProbeBatch);
    const torch::Tensor x = to_normalized_float(images_.slice(0, begin, end), stats_).to(device_);
    const TeacherBatch t = run_teacher(teacher, request, x);
    const std::vector<torch::Tensor> s = student_.features(x, student_layers_);
    for (size_t i = 0; i < probe_.pairs.size(); ++i) {
      target_parts[i].push_back(t.features.at(i));
      const torch::Tensor a = objective.project_pair(i, s[i], t.features.at(i)).teacher;
      aligned[i].push_back(a.reshape({a.size(0), -1}).to(torch::kFloat));
    }
  }
  for (size_t i = 0; i < probe_.pairs.size(); ++i) {
    targets_.push_back(torch::cat(target_parts[i], 0));
    const torch::Tensor x = torch::cat(aligned[i], 0);
    axes_.push_back(pca_axes(x, 2));
    probe_.pairs[i].teacher_coords = coords_of(axes_.back().project(x));
  }
}

GeometrySnapshot GeometryTracker::snapshot(int epoch, int64_t step, bool partial) {
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  objective_.set_training(false);
  const size_t pairs = probe_.pairs.size();
  const int64_t n = images_.size(0);
  std::vector<std::vector<torch::Tensor>> raw(pairs), projected(pairs);
  std::vector<double> squared(pairs, 0.0);
  std::vector<int64_t> elements(pairs, 0);
  for (int64_t begin = 0; begin < n; begin += kProbeBatch) {
    const int64_t end = std::min(n, begin + kProbeBatch);
    const torch::Tensor x = to_normalized_float(images_.slice(0, begin, end), stats_).to(device_);
    const std::vector<torch::Tensor> feats = student_.features(x, student_layers_);
    for (size_t i = 0; i < pairs; ++i) {
      raw[i].push_back(flatten_layer_output(feats[i]));
      const ProjectedPair p = objective_.project_pair(i, feats[i], targets_[i].slice(0, begin, end));
      const torch::Tensor ps = p.student.to(torch::kFloat);
      projected[i].push_back(ps.reshape({ps.size(0), -1}));
      squared[i] += (ps - p.teacher.to(torch::kFloat)).pow(2).sum().item<double>();
      elements[i] += ps.numel();
    }
  }
  GeometrySnapshot s;
  s.epoch = epoch;
  s.step = step;
  s.partial = partial;
  for (size_t i = 0; i < pairs; ++i) {
    const torch::Tensor f = torch::cat(raw[i], 0);
    PairSnapshot p;
    p.student = probe_quality(f, labels_device_, probe_.num_classes, probe_.n_train);
    const torch::Tensor gram = centered_gram(f);
    for (const torch::Tensor& t : teacher_grams_) p.cka_all.push_back(cka_from_grams(t, gram));
    p.cka = p.cka_all.at(static_cast<size_t>(probe_.pairs[i].teacher_layer));
    p.ncc = ncc_accuracy(f, labels_device_, probe_.num_classes);
    p.feature_loss = squared[i] / static_cast<double>(std::max<int64_t>(elements[i], 1));
    p.coords = coords_of(axes_[i].project(torch::cat(projected[i], 0)));
    s.pairs.push_back(std::move(p));
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

std::vector<GeometrySnapshot> start_geometry_log(const std::string& path, const GeometryProbe& probe,
                                                 int epochs_done) {
  std::vector<GeometrySnapshot> kept;
  std::string text = probe_record(probe) + "\n";
  if (epochs_done > 0) {
    try {
      const GeometryLog earlier = read_geometry_log(path);
      // The same probe (a deterministic choice) unless the data or settings changed.
      if (earlier.probe.labels == probe.labels && earlier.probe.pairs.size() == probe.pairs.size() &&
          earlier.probe.teacher_layers == probe.teacher_layers) {
        for (const GeometrySnapshot& s : earlier.snapshots) {
          if (s.epoch < epochs_done) {
            text += snapshot_record(s) + "\n";
            kept.push_back(s);
          }
        }
      }
    } catch (const Error&) {
      // No earlier file, or a damaged one: start anew.
    }
  }
  write_file_atomically(path, text);
  return kept;
}

void append_geometry_snapshot(const std::string& path, const GeometrySnapshot& snapshot) {
  std::ofstream f(path, std::ios::app);
  f << snapshot_record(snapshot) << '\n';
  if (!f) throw Error("cannot write " + path);
}

}  // namespace kd
