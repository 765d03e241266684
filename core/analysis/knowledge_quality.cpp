// Knowledge quality Q of a teacher layer (method.md section 2; conventions in docs/analysis.md).
//
// Everything is computed in float64 on the features' device. The |A| x |A| matrices P and the
// distances are never formed: pairs of row blocks (I <= J, P is symmetric) are visited and their
// Gram block x_I x_J^T is accumulated over column chunks converted to float64 on the fly, so the
// memory beyond the inputs is a few block_rows^2 matrices plus two block_rows x chunk operands.
// Per-class sums are reduced on the device; only per-sample minima (|A| numbers), the C x C sums
// and the small per-class Gram matrices of sample B come back to the CPU.
#include "analysis/knowledge_quality.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>

#include "common/error.h"

namespace kd {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
/// Elements of one float64 operand chunk (rows x columns) of the blocked products: 32 MB.
constexpr int64_t kChunkElements = int64_t{1} << 22;

/// A validated sample: (n, D) features on their own device, labels there too and on the CPU.
struct Sample {
  torch::Tensor feats;
  torch::Tensor labels;               // int64 (n), on the features' device
  std::vector<int64_t> labels_cpu;    // the same labels
  std::vector<int64_t> class_counts;  // samples per class
  int64_t size() const { return feats.size(0); }
  int64_t dim() const { return feats.size(1); }
};

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

Sample validate(const torch::Tensor& feats, const torch::Tensor& labels, int64_t num_classes,
                const std::string& name) {
  if (!feats.defined() || feats.dim() < 2) {
    throw Error("knowledge quality: the features of " + name +
                " must have shape (samples, features...), got " +
                (feats.defined() ? shape_of(feats) : std::string("no tensor")));
  }
  if (!feats.is_floating_point()) {
    throw Error("knowledge quality: the features of " + name + " must be floating point, got " +
                std::string(c10::toString(feats.scalar_type())));
  }
  if (feats.size(0) == 0) throw Error("knowledge quality: " + name + " is empty");
  if (!labels.defined() || labels.dim() != 1 ||
      !c10::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
    throw Error("knowledge quality: the labels of " + name + " must be a 1-D integer tensor, got " +
                (labels.defined()
                     ? shape_of(labels) + " " + std::string(c10::toString(labels.scalar_type()))
                     : std::string("no tensor")));
  }
  if (labels.size(0) != feats.size(0)) {
    throw Error("knowledge quality: " + name + " has " + std::to_string(feats.size(0)) +
                " feature rows but " + std::to_string(labels.size(0)) + " labels");
  }
  Sample s;
  s.feats = feats.reshape({feats.size(0), -1});
  if (s.dim() == 0) throw Error("knowledge quality: the features of " + name + " are empty");
  const torch::Tensor cpu = labels.to(torch::kCPU, torch::kLong).contiguous();
  s.labels_cpu.assign(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
  s.class_counts.assign(static_cast<size_t>(num_classes), 0);
  for (const int64_t l : s.labels_cpu) {
    if (l < 0 || l >= num_classes) {
      throw Error("knowledge quality: " + name + " has label " + std::to_string(l) +
                  ", outside [0, " + std::to_string(num_classes) + ")");
    }
    ++s.class_counts[static_cast<size_t>(l)];
  }
  s.labels = cpu.to(s.feats.device());
  return s;
}

/// Rows `rows` (positions, an int64 tensor on the device) and columns [c0, c1) of x in float64,
/// minus center[c0, c1) when a center is given.
torch::Tensor operand(const torch::Tensor& x, const torch::Tensor& rows,
                      const torch::Tensor& center, int64_t c0, int64_t c1) {
  torch::Tensor block = x.slice(1, c0, c1).index_select(0, rows).to(torch::kDouble);
  if (center.defined()) block = block - center.slice(0, c0, c1);
  return block;
}

int64_t chunk_columns(int64_t block_rows, int64_t dim) {
  return std::clamp<int64_t>(kChunkElements / block_rows, 1, dim);
}

/// Calls fn(r0, r1, block) for the row blocks [r0, r1) of x[rows] in float64 (centered when
/// `center` is defined), one column chunk at a time: fn(r0, r1, c0, c1, block).
template <class Fn>
void for_each_chunk(const torch::Tensor& x, const torch::Tensor& rows, const torch::Tensor& center,
                    int64_t block_rows, Fn&& fn) {
  const int64_t n = rows.size(0), d = x.size(1), chunk = chunk_columns(block_rows, d);
  for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
    const int64_t r1 = std::min(n, r0 + block_rows);
    for (int64_t c0 = 0; c0 < d; c0 += chunk) {
      const int64_t c1 = std::min(d, c0 + chunk);
      fn(r0, r1, c0, c1, operand(x, rows.slice(0, r0, r1), center, c0, c1));
    }
  }
}

/// Calls visit(i0, i1, j0, j1, G) for every pair of row blocks I <= J of x[rows], with
/// G = (x_I - center)(x_J - center)^T in float64 (center optional), accumulated over column
/// chunks. Polls `progress` for cancellation before each pair.
template <class Visit>
void for_each_gram_block(const torch::Tensor& x, const torch::Tensor& rows,
                         const torch::Tensor& center, int64_t block_rows,
                         const ProgressSink* progress, Visit&& visit) {
  const int64_t n = rows.size(0), d = x.size(1), chunk = chunk_columns(block_rows, d);
  for (int64_t i0 = 0; i0 < n; i0 += block_rows) {
    const int64_t i1 = std::min(n, i0 + block_rows);
    const torch::Tensor rows_i = rows.slice(0, i0, i1);
    for (int64_t j0 = i0; j0 < n; j0 += block_rows) {
      throw_if_cancelled(progress);
      const int64_t j1 = std::min(n, j0 + block_rows);
      const torch::Tensor rows_j = rows.slice(0, j0, j1);
      torch::Tensor gram = torch::zeros({i1 - i0, j1 - j0}, x.options().dtype(torch::kDouble));
      for (int64_t c0 = 0; c0 < d; c0 += chunk) {
        const int64_t c1 = std::min(d, c0 + chunk);
        const torch::Tensor xi = operand(x, rows_i, center, c0, c1);
        const torch::Tensor xj = j0 == i0 ? xi : operand(x, rows_j, center, c0, c1);
        gram.addmm_(xi, xj.t());
      }
      visit(i0, i1, j0, j1, gram);
    }
  }
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

/// Reports a fraction of the whole computation (a null sink ignores it).
void report(ProgressSink* progress, double fraction, const std::string& message) {
  if (progress != nullptr) progress->progress(std::clamp(fraction, 0.0, 1.0), message);
}

/// The per-class statistics of sample A, before the class means are taken.
struct ClassStatsA {
  std::vector<double> sq_norm;     // per sample: ||x_a||^2
  std::vector<double> min_intra;   // per sample: min P to another sample of its class (inf: none)
  std::vector<double> min_dist2;   // per sample: min squared distance to another class
  std::vector<double> class_sums;  // (C x C, row-major): sum of P over ordered pairs a != b
};

ClassStatsA pair_statistics(const Sample& a, int64_t num_classes, int64_t block_rows,
                            ProgressSink* progress, double progress_share) {
  const int64_t n = a.size();
  const auto f64 = a.feats.options().dtype(torch::kDouble);
  const torch::Tensor rows = torch::arange(n, a.feats.options().dtype(torch::kLong));
  const torch::Tensor no_center;

  torch::Tensor sq_norm = torch::zeros({n}, f64);
  for_each_chunk(a.feats, rows, no_center, block_rows,
                 [&](int64_t r0, int64_t r1, int64_t, int64_t, const torch::Tensor& block) {
                   sq_norm.slice(0, r0, r1).add_(block.square().sum(1));
                 });
  if (!torch::isfinite(sq_norm).all().item<bool>()) {
    throw Error("knowledge quality: the features of sample A contain NaN or infinite values");
  }
  const torch::Tensor norm = sq_norm.sqrt();
  // u = x / ||x||, and u = 0 for a zero vector, so that its P entries are 0.
  const torch::Tensor inv_norm = torch::where(norm > 0, norm.reciprocal(), torch::zeros_like(norm));
  const torch::Tensor one_hot = torch::one_hot(a.labels, num_classes).to(torch::kDouble);

  torch::Tensor class_sums = torch::zeros({num_classes, num_classes}, f64);
  torch::Tensor min_intra = torch::full({n}, kInf, f64);
  torch::Tensor min_dist2 = torch::full({n}, kInf, f64);
  auto lower_min = [](torch::Tensor& target, int64_t r0, int64_t r1, const torch::Tensor& v) {
    torch::Tensor part = target.slice(0, r0, r1);
    part.copy_(torch::minimum(part, v));
  };
  double total_pairs = 0, done_pairs = 0;  // entries of the visited blocks, for progress
  for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
    const auto rows_i = static_cast<double>(std::min(n, r0 + block_rows) - r0);
    total_pairs += rows_i * static_cast<double>(n - r0);
  }

  for_each_gram_block(
      a.feats, rows, no_center, block_rows, progress,
      [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1, const torch::Tensor& gram) {
        const bool diagonal = i0 == j0;
        torch::Tensor p = (gram.abs() * inv_norm.slice(0, i0, i1).unsqueeze(1) *
                           inv_norm.slice(0, j0, j1).unsqueeze(0))
                              .clamp_max_(1.0);  // |cos| <= 1 up to rounding
        // ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, in float64 and clamped at 0.
        const torch::Tensor dist2 = (sq_norm.slice(0, i0, i1).unsqueeze(1) +
                                     sq_norm.slice(0, j0, j1).unsqueeze(0) - 2.0 * gram)
                                        .clamp_min_(0.0);
        const torch::Tensor same =
            a.labels.slice(0, i0, i1).unsqueeze(1).eq(a.labels.slice(0, j0, j1).unsqueeze(0));
        if (diagonal) p.fill_diagonal_(0.0);  // pairs a != b only
        // Sums by (class of a, class of b); an off-diagonal block also stands for its transpose.
        const torch::Tensor sums =
            one_hot.slice(0, i0, i1).t().matmul(p).matmul(one_hot.slice(0, j0, j1));
        class_sums.add_(diagonal ? sums : sums + sums.t());

        torch::Tensor p_intra = p.masked_fill(same.logical_not(), kInf);
        if (diagonal) p_intra.fill_diagonal_(kInf);
        const torch::Tensor d2_inter = dist2.masked_fill(same, kInf);
        lower_min(min_intra, i0, i1, p_intra.amin(1));
        lower_min(min_dist2, i0, i1, d2_inter.amin(1));
        if (!diagonal) {
          lower_min(min_intra, j0, j1, p_intra.amin(0));
          lower_min(min_dist2, j0, j1, d2_inter.amin(0));
        }
        done_pairs += static_cast<double>((i1 - i0) * (j1 - j0));
        if (j1 == n) {
          report(progress, progress_share * done_pairs / total_pairs,
                 "knowledge quality: pairs of sample A");
        }
      });
  return {to_vector(sq_norm), to_vector(min_intra), to_vector(min_dist2), to_vector(class_sums)};
}

/// -sum lambda ln lambda of lambda = eigenvalues / their sum, for a symmetric positive
/// semi-definite Gram matrix (CPU, float64, upper triangle used). 0 when the matrix is 0.
double spectral_entropy(const torch::Tensor& gram) {
  // Rounding can leave eigenvalues that are mathematically 0 slightly negative.
  const std::vector<double> ev = to_vector(torch::linalg_eigvalsh(gram, "U").clamp_min(0.0));
  double total = 0;
  for (const double v : ev) total += v;
  if (!(total > 0)) return 0.0;
  double h = 0;
  for (const double v : ev) {
    const double lambda = v / total;
    if (lambda > 0) h -= lambda * std::log(lambda);  // 0 ln 0 = 0
  }
  return h;
}

/// Entropy H_c of the spectrum of one class of sample B, centered by its mean. The squared
/// singular values are the eigenvalues of the smaller Gram matrix: n_c x n_c when n_c <= D,
/// else D x D.
double class_entropy(const Sample& b, const torch::Tensor& rows, int64_t block_rows,
                     const ProgressSink* progress) {
  const int64_t n = rows.size(0), d = b.dim();
  const auto f64 = b.feats.options().dtype(torch::kDouble);
  torch::Tensor mean = torch::zeros({d}, f64);
  for_each_chunk(b.feats, rows, torch::Tensor(), block_rows,
                 [&](int64_t, int64_t, int64_t c0, int64_t c1, const torch::Tensor& block) {
                   mean.slice(0, c0, c1).add_(block.sum(0));
                 });
  if (!torch::isfinite(mean).all().item<bool>()) {
    throw Error("knowledge quality: the features of sample B contain NaN or infinite values");
  }
  if (n < 2) return 0.0;  // one sample: no variance
  mean.div_(static_cast<double>(n));
  torch::Tensor gram;
  if (n <= d) {
    gram = torch::zeros({n, n}, f64);  // only the upper block triangle is filled
    for_each_gram_block(
        b.feats, rows, mean, block_rows, progress,
        [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1, const torch::Tensor& g) {
          gram.slice(0, i0, i1).slice(1, j0, j1).copy_(g);
        });
  } else {
    gram = torch::zeros({d, d}, f64);
    for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
      throw_if_cancelled(progress);
      const torch::Tensor block =
          operand(b.feats, rows.slice(0, r0, std::min(n, r0 + block_rows)), mean, 0, d);
      gram.addmm_(block.t(), block);
    }
  }
  return spectral_entropy(gram.to(torch::kCPU));
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

namespace {

void check_common(int64_t num_classes, int64_t block_rows) {
  if (num_classes < 2) {
    throw Error("knowledge quality: needs at least 2 classes, got " + std::to_string(num_classes));
  }
  if (block_rows < 1) {
    throw Error("knowledge quality: block_rows must be at least 1, got " +
                std::to_string(block_rows));
  }
}

}  // namespace

double mean_class_entropy(const torch::Tensor& feats_b, const torch::Tensor& labels_b,
                          int64_t num_classes, const QualityOptions& options,
                          ProgressSink* progress) {
  check_common(num_classes, options.block_rows);
  torch::NoGradGuard no_grad;
  const Sample b = validate(feats_b, labels_b, num_classes, "sample B");
  double work_b = 0;
  for (const int64_t n : b.class_counts) work_b += static_cast<double>(n) * static_cast<double>(n);
  std::vector<std::vector<int64_t>> rows_b(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < b.labels_cpu.size(); ++i) {
    rows_b[static_cast<size_t>(b.labels_cpu[i])].push_back(static_cast<int64_t>(i));
  }
  std::vector<double> entropies;
  double done_b = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto& rows = rows_b[static_cast<size_t>(c)];
    if (rows.empty()) continue;
    const torch::Tensor index = torch::tensor(rows, torch::kLong).to(b.feats.device());
    entropies.push_back(class_entropy(b, index, options.block_rows, progress));
    done_b += static_cast<double>(rows.size()) * static_cast<double>(rows.size());
    report(progress, done_b / work_b, "knowledge quality: spectra of sample B");
  }
  return mean_of(entropies);
}

QualityScores knowledge_quality_from_a(const torch::Tensor& feats_a, const torch::Tensor& labels_a,
                                       int64_t num_classes, int64_t n_train, double mean_entropy,
                                       const QualityOptions& options, ProgressSink* progress) {
  check_common(num_classes, options.block_rows);
  if (n_train < 1) {
    throw Error("knowledge quality: the training split size must be positive, got " +
                std::to_string(n_train));
  }
  torch::NoGradGuard no_grad;
  const Sample a = validate(feats_a, labels_a, num_classes, "sample A");
  std::vector<int64_t> present, paired;  // classes with >= 1 and >= 2 samples in A
  for (int64_t c = 0; c < num_classes; ++c) {
    if (a.class_counts[static_cast<size_t>(c)] >= 1) present.push_back(c);
    if (a.class_counts[static_cast<size_t>(c)] >= 2) paired.push_back(c);
  }
  if (present.size() < 2) {
    throw Error("knowledge quality: sample A holds samples of only " +
                std::to_string(present.size()) +
                " class(es); at least 2 classes are needed for the inter-class terms");
  }
  if (paired.empty()) {
    throw Error(
        "knowledge quality: no class has 2 or more samples in sample A, so there are no "
        "intra-class pairs");
  }
  const ClassStatsA st = pair_statistics(a, num_classes, options.block_rows, progress, 1.0);

  // Class means over sample A.
  const auto count = [&](int64_t c) {
    return static_cast<double>(a.class_counts[static_cast<size_t>(c)]);
  };
  std::vector<double> norm_sum(static_cast<size_t>(num_classes), 0.0);
  std::vector<double> min_intra(static_cast<size_t>(num_classes), kInf);
  std::vector<double> min_dist2(static_cast<size_t>(num_classes), kInf);
  for (size_t i = 0; i < a.labels_cpu.size(); ++i) {
    const auto c = static_cast<size_t>(a.labels_cpu[i]);
    norm_sum[c] += std::sqrt(st.sq_norm[i]);
    min_intra[c] = std::min(min_intra[c], st.min_intra[i]);
    min_dist2[c] = std::min(min_dist2[c], st.min_dist2[i]);
  }
  const auto sum_of = [&](int64_t c, int64_t j) {
    return st.class_sums[static_cast<size_t>(c * num_classes + j)];
  };
  std::vector<double> avg_intra, min_intra_c, avg_inter, avg_norm, min_inter_dist;
  for (const int64_t c : paired) {
    avg_intra.push_back(sum_of(c, c) / (count(c) * (count(c) - 1)));
    min_intra_c.push_back(min_intra[static_cast<size_t>(c)]);
  }
  for (const int64_t c : present) {
    avg_norm.push_back(norm_sum[static_cast<size_t>(c)] / count(c));
    min_inter_dist.push_back(std::sqrt(min_dist2[static_cast<size_t>(c)]));
    for (const int64_t j : present) {
      if (j != c) avg_inter.push_back(sum_of(c, j) / (count(c) * count(j)));
    }
  }
  report(progress, 1.0, "knowledge quality: done");

  QualityScores q;
  q.avg_intra = mean_of(avg_intra);
  q.avg_inter = mean_of(avg_inter);
  q.min_intra = mean_of(min_intra_c);
  q.mean_entropy = mean_entropy;
  q.min_inter_dist = mean_of(min_inter_dist);
  q.avg_norm = mean_of(avg_norm);
  q.pcagid = std::min(a.size(), a.dim());
  q.separation = q.avg_intra - q.avg_inter;
  q.information = (1 - q.min_intra) * q.mean_entropy / std::log(5.0);
  // All of A zero: no norm to compare distances with; such a layer carries nothing (E = 0).
  q.efficiency = q.avg_norm > 0 ? std::pow(static_cast<double>(n_train) / std::numbers::pi,
                                           1.0 / static_cast<double>(q.pcagid)) *
                                      2.0 * q.min_inter_dist / q.avg_norm
                                : 0.0;
  q.quality = q.separation + std::sqrt(std::max(0.0, q.information * q.efficiency));
  return q;
}

/// Reports a sub-range of the fraction to a parent sink (progress of the two halves).
namespace {
class SubProgress final : public ProgressSink {
 public:
  SubProgress(ProgressSink* parent, double lo, double hi) : parent_(parent), lo_(lo), hi_(hi) {}
  void progress(double f, const std::string& m) override {
    if (parent_ != nullptr) parent_->progress(lo_ + (hi_ - lo_) * f, m);
  }
  bool cancelled() const override { return parent_ != nullptr && parent_->cancelled(); }

 private:
  ProgressSink* parent_;
  double lo_, hi_;
};
}  // namespace

QualityScores knowledge_quality(const torch::Tensor& feats_a, const torch::Tensor& labels_a,
                                const torch::Tensor& feats_b, const torch::Tensor& labels_b,
                                int64_t num_classes, int64_t n_train, const QualityOptions& options,
                                ProgressSink* progress) {
  check_common(num_classes, options.block_rows);
  const Sample check_b = validate(feats_b, labels_b, num_classes, "sample B");  // errors first
  const Sample check_a = validate(feats_a, labels_a, num_classes, "sample A");
  if (check_a.dim() != check_b.dim()) {
    throw Error("knowledge quality: sample A has " + std::to_string(check_a.dim()) +
                " features per sample but sample B has " + std::to_string(check_b.dim()));
  }
  // Sample A dominates the cost (|A|^2 D against sum_c n_c^2 D for B).
  const double na = feats_a.dim() > 0 ? static_cast<double>(feats_a.size(0)) : 0.0;
  const double nb = feats_b.dim() > 0 ? static_cast<double>(feats_b.size(0)) : 0.0;
  const double share_a = na * na / std::max(1.0, na * na + nb * nb / std::max<double>(1, num_classes));
  SubProgress pa(progress, 0.0, share_a), pb(progress, share_a, 1.0);
  QualityScores q = knowledge_quality_from_a(feats_a, labels_a, num_classes, n_train, 0.0, options, &pa);
  const double h = mean_class_entropy(feats_b, labels_b, num_classes, options, &pb);
  q.mean_entropy = h;
  q.information = (1 - q.min_intra) * h / std::log(5.0);
  q.quality = q.separation + std::sqrt(std::max(0.0, q.information * q.efficiency));
  return q;
}

SelectionCriterion parse_selection_criterion(const std::string& text) {
  std::string t;
  for (const char ch : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (t == "q") return SelectionCriterion::kQuality;
  if (t == "s") return SelectionCriterion::kSeparation;
  if (t == "i") return SelectionCriterion::kInformation;
  if (t == "e") return SelectionCriterion::kEfficiency;
  if (t == "sqrtie") return SelectionCriterion::kSqrtIE;
  throw Error("unknown layer-selection criterion '" + text + "' (use Q, S, I, E or sqrtIE)");
}

namespace {

double criterion_value(const QualityScores& s, SelectionCriterion criterion) {
  double v = 0;
  switch (criterion) {
    case SelectionCriterion::kQuality:
      v = s.quality;
      break;
    case SelectionCriterion::kSeparation:
      v = s.separation;
      break;
    case SelectionCriterion::kInformation:
      v = s.information;
      break;
    case SelectionCriterion::kEfficiency:
      v = s.efficiency;
      break;
    case SelectionCriterion::kSqrtIE:
      v = std::sqrt(std::max(0.0, s.information * s.efficiency));
      break;
  }
  return std::isnan(v) ? -kInf : v;  // NaN ranks last (and keeps the ordering strict)
}

}  // namespace

std::vector<int> select_layers(const std::vector<QualityScores>& scores, int k,
                               SelectionCriterion criterion) {
  const int n = static_cast<int>(scores.size());
  if (n == 0) throw Error("there are no teacher layers to select from");
  if (k < 1 || k > n) {
    throw Error("cannot select " + std::to_string(k) + " teacher layer(s) out of " +
                std::to_string(n) + " (choose between 1 and " + std::to_string(n) + ")");
  }
  std::vector<int> order(static_cast<size_t>(n));
  std::vector<double> value(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    order[static_cast<size_t>(i)] = i;
    value[static_cast<size_t>(i)] = criterion_value(scores[static_cast<size_t>(i)], criterion);
  }
  std::sort(order.begin(), order.end(), [&](int x, int y) {
    const double vx = value[static_cast<size_t>(x)], vy = value[static_cast<size_t>(y)];
    return vx != vy ? vx > vy : x < y;  // higher first; ties to the shallower layer
  });
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

int64_t feature_pool_factor(int64_t flat_dim) {
  if (flat_dim < 1) {
    throw Error("feature dimension must be positive, got " + std::to_string(flat_dim));
  }
  // Smallest f with f^2 * kMaxFeatureDim >= D, i.e. f^2 >= ceil(D / kMaxFeatureDim); integer
  // arithmetic so that D = f^2 * kMaxFeatureDim exactly is not pushed up by rounding.
  const int64_t q = flat_dim / kMaxFeatureDim + (flat_dim % kMaxFeatureDim != 0 ? 1 : 0);
  auto f = static_cast<int64_t>(std::sqrt(static_cast<double>(q)));
  while (f * f < q) ++f;
  while (f > 1 && (f - 1) * (f - 1) >= q) --f;
  return std::max<int64_t>(f, 1);
}

}  // namespace kd
