#include "analysis/geometry.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "analysis/tsne.h"
#include "common/error.h"

namespace kd {
namespace {

constexpr int64_t kBlockElements = int64_t{1} << 24;  // elements per float64 work block
constexpr double kFeatureEps = std::numeric_limits<float>::epsilon();  // features are float32
constexpr double kCumulativeSlack = 1e-9;     // rounding allowance when a ratio meets a threshold
constexpr int64_t kTwoNNCandidates = 8;       // cdist neighbour candidates measured again exactly
constexpr double kDuplicateTolerance = 1e-5;  // duplicates: closer than this x the RMS radius
constexpr double kInf = std::numeric_limits<double>::infinity();  // "no center" distance

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

/// Throws unless X is a finite, floating (N, D) tensor with D >= 1 and N >= min_rows.
void check_features(const torch::Tensor& X, const std::string& what, int64_t min_rows) {
  if (!X.defined() || X.dim() != 2 || X.size(1) == 0) {
    throw Error(what + ": expected a 2-D (samples x features) tensor, got shape " +
                (X.defined() ? shape_of(X) : "<none>"));
  }
  if (!X.is_floating_point()) throw Error(what + ": features must be floating point");
  if (X.size(0) < min_rows) {
    throw Error(what + " needs at least " + std::to_string(min_rows) + " samples, got " +
                std::to_string(X.size(0)));
  }
  if (!torch::isfinite(X).all().item<bool>()) {
    throw Error(what + ": the features contain NaN or infinite values");
  }
}

/// Labels as CPU int64 after checking shape (N) and range [0, num_classes).
torch::Tensor checked_labels(const torch::Tensor& labels, int64_t n, int64_t num_classes,
                             const std::string& what) {
  if (num_classes < 1) throw Error(what + ": the number of classes must be at least 1");
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != n) {
    throw Error(what + ": expected " + std::to_string(n) + " labels, got shape " +
                (labels.defined() ? shape_of(labels) : "<none>"));
  }
  if (labels.is_floating_point() || labels.is_complex()) {
    throw Error(what + ": labels must be integers");
  }
  const torch::Tensor l = labels.to(torch::kCPU, torch::kLong);
  const int64_t lo = l.min().item<int64_t>(), hi = l.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    throw Error(what + ": label " + std::to_string(lo < 0 ? lo : hi) + " is out of range for " +
                std::to_string(num_classes) + " classes");
  }
  return l;
}

/// Columns [begin, end) of X in float64 on X's device, centered by their mean.
torch::Tensor centered_columns(const torch::Tensor& X, int64_t begin, int64_t end) {
  const torch::Tensor b = X.slice(1, begin, end).to(torch::kDouble);
  return b - b.mean(0, true);
}

/// Columns per block so that one (N x columns) float64 block stays near kBlockElements.
int64_t block_columns(int64_t n) { return std::max<int64_t>(1, kBlockElements / n); }

/// N x N float64 Gram matrix Xc Xc^T of the column-centered X, accumulated over column blocks
/// so that no float64 copy of the whole X is made.
torch::Tensor gram_of_centered(const torch::Tensor& X) {
  const int64_t n = X.size(0), d = X.size(1);
  torch::Tensor gram = torch::zeros({n, n}, X.options().dtype(torch::kDouble));
  for (int64_t begin = 0; begin < d; begin += block_columns(n)) {
    const torch::Tensor b = centered_columns(X, begin, std::min(d, begin + block_columns(n)));
    gram.addmm_(b, b.t());
  }
  return gram;
}

/// The smaller of the two scatter matrices: N x N Gram when D > N, else D x D Xc^T Xc.
torch::Tensor centered_scatter(const torch::Tensor& X) {
  if (X.size(1) > X.size(0)) return gram_of_centered(X);
  const torch::Tensor xc = centered_columns(X, 0, X.size(1));
  return xc.t().mm(xc);
}

/// Eigenvalues of the centered scatter matrix (squared singular values of Xc), descending, CPU.
torch::Tensor scatter_spectrum(const torch::Tensor& X) {
  return torch::linalg_eigvalsh(centered_scatter(X), "L").flip(0).clamp_min(0).cpu();
}

/// Xc^T U (D x k) for the column-centered X, block by block over the columns.
torch::Tensor centered_transpose_times(const torch::Tensor& X, const torch::Tensor& U) {
  const int64_t n = X.size(0), d = X.size(1);
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < d; begin += block_columns(n)) {
    parts.push_back(centered_columns(X, begin, std::min(d, begin + block_columns(n))).t().mm(U));
  }
  return torch::cat(parts, 0);
}

/// Multiplies each column of coords by the sign of its loading vector's largest-magnitude entry.
torch::Tensor apply_sign_rule(const torch::Tensor& coords, const torch::Tensor& loadings) {
  const torch::Tensor largest = loadings.gather(0, loadings.abs().argmax(0).unsqueeze(0));
  const torch::Tensor sign =
      torch::where(largest < 0, -torch::ones_like(largest), torch::ones_like(largest));
  return coords * sign;
}

/// Mean coordinates per class (zeros for empty classes); coords (N, dims) CPU.
torch::Tensor class_centers(const torch::Tensor& coords, const torch::Tensor& labels,
                            int64_t num_classes) {
  const torch::Tensor sums =
      torch::zeros({num_classes, coords.size(1)}, coords.options()).index_add_(0, labels, coords);
  const torch::Tensor counts =
      torch::zeros({num_classes}, coords.options())
          .index_add_(0, labels, torch::ones({coords.size(0)}, coords.options()));
  return sums / counts.clamp_min(1).unsqueeze(1);
}

/// Result with float32 CPU coords, the labels and the per-class centers.
Projection make_projection(const torch::Tensor& coords, const torch::Tensor& labels,
                           int64_t num_classes) {
  Projection p;
  p.coords = coords.to(torch::kCPU, torch::kFloat).contiguous();
  p.labels = labels;
  p.centers = class_centers(p.coords, labels, num_classes);
  return p;
}

void check_tsne_options(const TsneOptions& o, int64_t n) {
  if (o.dims != 2 && o.dims != 3) throw Error("t-SNE: dims must be 2 or 3");
  if (o.theta > 0 && o.dims != 2) {
    throw Error("t-SNE: Barnes-Hut (theta > 0) is 2-D only; use theta = 0 for 3-D");
  }
  if (o.iterations < 1) throw Error("t-SNE: iterations must be at least 1");
  if (!(o.learning_rate > 0)) throw Error("t-SNE: the learning rate must be positive");
  if (!(o.perplexity >= 1)) throw Error("t-SNE: the perplexity must be at least 1");
  const auto needed = static_cast<int64_t>(std::ceil(3 * o.perplexity)) + 1;
  if (n < needed) {
    std::ostringstream s;
    s << "t-SNE: perplexity " << o.perplexity << " is too large for " << n
      << " samples (it needs at least 3 x perplexity + 1 = " << needed
      << "); lower the perplexity or use more samples";
    throw Error(s.str());
  }
}

/// Each row's m nearest other rows (indices, and distances ascending) as CPU tensors (N, m).
/// cdist finds the candidates fast but is cancellation-prone, so their distances are measured
/// again from direct differences, which are accurate (0 for identical rows).
std::pair<torch::Tensor, torch::Tensor> nearest_rows(const torch::Tensor& f,
                                                     const torch::Tensor& xc, int64_t m) {
  const int64_t n = f.size(0);
  const int64_t block = std::max<int64_t>(1, kBlockElements / n);
  const int64_t sub = std::max<int64_t>(1, kBlockElements / (m * f.size(1)));
  std::vector<torch::Tensor> indices, distances;
  for (int64_t begin = 0; begin < n; begin += block) {
    const int64_t end = std::min(n, begin + block);
    torch::Tensor d = torch::cdist(xc.slice(0, begin, end), xc);
    d.diagonal(begin).fill_(kInf);
    const torch::Tensor candidates = std::get<1>(d.topk(m, 1, /*largest=*/false));
    for (int64_t r = begin; r < end; r += sub) {
      const torch::Tensor idx = candidates.slice(0, r - begin, std::min(end, r + sub) - begin);
      const torch::Tensor others = f.index_select(0, idx.flatten()).view({idx.size(0), m, -1});
      const torch::Tensor self = f.slice(0, r, r + idx.size(0)).unsqueeze(1);
      const torch::Tensor dist = (others - self).square().sum(2).to(torch::kDouble).sqrt();
      const auto [sorted, order] = dist.sort(1);
      distances.push_back(sorted.cpu());
      indices.push_back(idx.gather(1, order).cpu());
    }
  }
  return {torch::cat(indices), torch::cat(distances)};
}

/// Which rows to keep: a row within `tol` of a lower-indexed row is a duplicate and dropped.
std::vector<bool> distinct_rows(const torch::Tensor& index, const torch::Tensor& dist, double tol) {
  const auto idx = index.accessor<int64_t, 2>();
  const auto d = dist.accessor<double, 2>();
  std::vector<bool> keep(static_cast<size_t>(index.size(0)), true);
  for (int64_t i = 0; i < index.size(0); ++i) {
    for (int64_t k = 0; k < index.size(1) && d[i][k] <= tol; ++k) {
      if (idx[i][k] < i) keep[i] = false;
    }
  }
  return keep;
}

/// Squared distances (B x C) of centered rows to centered class means, float64.
torch::Tensor squared_distances_to(const torch::Tensor& rows, const torch::Tensor& means) {
  const torch::Tensor d2 =
      rows.square().sum(1, true) + means.square().sum(1).unsqueeze(0) - 2 * rows.mm(means.t());
  return d2.clamp_min(0);
}

/// Per-class sums (C x D) and counts (C), float64 on X's device, over row blocks.
std::pair<torch::Tensor, torch::Tensor> class_sums(const torch::Tensor& X, const torch::Tensor& l,
                                                   int64_t num_classes, int64_t rows) {
  const auto opts = X.options().dtype(torch::kDouble);
  torch::Tensor sums = torch::zeros({num_classes, X.size(1)}, opts);
  for (int64_t b = 0; b < X.size(0); b += rows) {
    sums.index_add_(0, l.slice(0, b, b + rows), X.slice(0, b, b + rows).to(torch::kDouble));
  }
  torch::Tensor counts =
      torch::zeros({num_classes}, opts).index_add_(0, l, torch::ones({X.size(0)}, opts));
  return {sums, counts};
}

/// Correct nearest-center predictions for rows x (centered like means) with labels own.
/// The own class's center leaves x out: x - (S - x) / (n - 1) = n / (n - 1) (x - mean), which
/// is undefined for n = 1; empty classes and undefined centers are skipped (distance inf).
int64_t ncc_correct(const torch::Tensor& x, const torch::Tensor& own, const torch::Tensor& means,
                    const torch::Tensor& counts) {
  const torch::Tensor skip = torch::full_like(counts, kInf);
  const torch::Tensor loo_scale = (counts / (counts - 1).clamp_min(1)).square();
  torch::Tensor d2 = squared_distances_to(x, means) +
                     torch::where(counts > 0, torch::zeros_like(counts), skip).unsqueeze(0);
  const torch::Tensor column = own.unsqueeze(1);
  const torch::Tensor own_d2 = d2.gather(1, column) * loo_scale.index_select(0, own).unsqueeze(1);
  const torch::Tensor defined = counts.index_select(0, own).unsqueeze(1) > 1;
  d2.scatter_(1, column, torch::where(defined, own_d2, torch::full_like(own_d2, kInf)));
  const auto [best, predicted] = d2.min(1);
  return ((predicted == own) & torch::isfinite(best)).sum().item<int64_t>();
}

/// Frobenius norm as a double.
double frobenius(const torch::Tensor& t) { return t.square().sum().sqrt().item<double>(); }

/// cross / (norm_x norm_y) clamped to [0, 1] against rounding; 0 when a side has no variance.
double cka_ratio(double cross, double norm_x, double norm_y) {
  if (norm_x <= 0 || norm_y <= 0) return 0;
  return std::clamp(cross / (norm_x * norm_y), 0.0, 1.0);
}

/// Linear CKA from two centered float64 Gram matrices of the same samples.
double cka_of_grams(const torch::Tensor& kx, const torch::Tensor& ky_any_device) {
  const torch::Tensor ky = ky_any_device.to(kx.device());
  // <K_X, K_Y>_F = trace(K_X K_Y) = ||Y^T X||_F^2 for symmetric K.
  return cka_ratio((kx * ky).sum().item<double>(), frobenius(kx), frobenius(ky));
}

}  // namespace

Projection pca_projection(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes,
                          int dims) {
  check_features(X, "PCA", 2);
  const torch::Tensor l = checked_labels(labels, X.size(0), num_classes, "PCA");
  if (dims != 2 && dims != 3) throw Error("PCA: dims must be 2 or 3");
  if (std::min(X.size(0), X.size(1)) < dims) {
    throw Error("PCA to " + std::to_string(dims) + " dimensions needs at least " +
                std::to_string(dims) + " samples and features, got shape " + shape_of(X));
  }
  const bool gram = X.size(1) > X.size(0);
  auto [values, vectors] = torch::linalg_eigh(centered_scatter(X), "L");
  values = values.flip(0).clamp_min(0);
  const torch::Tensor top = vectors.flip(1).slice(1, 0, dims);
  torch::Tensor coords, loadings;
  if (gram) {  // Xc = U S V^T: coords U S, loadings V ~ Xc^T U
    coords = top * values.slice(0, 0, dims).sqrt().unsqueeze(0);
    loadings = centered_transpose_times(X, top);
  } else {
    coords = centered_columns(X, 0, X.size(1)).mm(top);
    loadings = top;
  }
  Projection p = make_projection(apply_sign_rule(coords, loadings), l, num_classes);
  const torch::Tensor v = values.cpu();
  const double total = v.sum().item<double>();
  for (int k = 0; k < dims; ++k) {
    p.explained_variance_ratio.push_back(total > 0 ? v[k].item<double>() / total : 0.0);
  }
  return p;
}

PcaAxes pca_axes(const torch::Tensor& X, int dims) {
  check_features(X, "PCA", 2);
  if (dims != 2 && dims != 3) throw Error("PCA: dims must be 2 or 3");
  if (std::min(X.size(0), X.size(1)) < dims) {
    throw Error("PCA to " + std::to_string(dims) + " dimensions needs at least " +
                std::to_string(dims) + " samples and features, got shape " + shape_of(X));
  }
  auto [values, vectors] = torch::linalg_eigh(centered_scatter(X), "L");
  const torch::Tensor top = vectors.flip(1).slice(1, 0, dims);
  torch::Tensor loadings = X.size(1) > X.size(0) ? centered_transpose_times(X, top) : top;
  // Gram route: Xc^T u_k = s_k v_k; a zero-variance axis keeps its (zero) direction.
  loadings = loadings / loadings.norm(2, {0}, true).clamp_min(1e-300);
  PcaAxes a;
  a.mean = X.to(torch::kDouble).mean(0);
  a.axes = apply_sign_rule(loadings, loadings);
  return a;
}

torch::Tensor PcaAxes::project(const torch::Tensor& Y) const {
  if (Y.dim() != 2 || Y.size(1) != mean.size(0)) {
    throw Error("PCA: cannot project features of shape " + shape_of(Y) + " on axes of dimension " +
                std::to_string(mean.size(0)));
  }
  return (Y.to(mean.device(), torch::kDouble) - mean).mm(axes);
}

Projection tsne_projection(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes,
                           const TsneOptions& options, ProgressSink* progress) {
  check_features(X, "t-SNE", 4);
  const torch::Tensor l = checked_labels(labels, X.size(0), num_classes, "t-SNE");
  check_tsne_options(options, X.size(0));
  std::vector<double> y = tsne::run(X, options, progress);
  const torch::Tensor coords =
      torch::from_blob(y.data(), {X.size(0), options.dims}, torch::kDouble).clone();
  return make_projection(coords, l, num_classes);
}

double twonn_dimension(const torch::Tensor& X) {
  check_features(X, "TwoNN", 3);
  const int64_t n = X.size(0);
  const torch::Tensor f = X.scalar_type() == torch::kDouble ? X : X.to(torch::kFloat);
  const torch::Tensor xc = f - f.mean(0, true);
  const double radius = std::sqrt(xc.square().sum().item<double>() / static_cast<double>(n));
  const double tol = kDuplicateTolerance * radius;
  const auto [index, dist] = nearest_rows(f, xc, std::min(n - 1, kTwoNNCandidates));
  const std::vector<bool> keep = distinct_rows(index, dist, tol);
  const auto distinct = std::count(keep.begin(), keep.end(), true);
  if (distinct < 3) {
    throw Error("TwoNN needs at least 3 distinct samples, got " + std::to_string(distinct));
  }
  const auto idx = index.accessor<int64_t, 2>();
  const auto d = dist.accessor<double, 2>();
  double sum_log = 0;
  int64_t used = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> r;  // distances to the two nearest kept, distinct rows
    for (int64_t k = 0; k < index.size(1) && keep[i] && r.size() < 2; ++k) {
      if (keep[idx[i][k]] && d[i][k] > tol) r.push_back(d[i][k]);
    }
    if (r.size() < 2) continue;
    sum_log += std::log(r[1] / r[0]);
    ++used;
  }
  if (used == 0 || !(sum_log > 0)) throw Error("TwoNN is undefined: every point has r2 = r1");
  return static_cast<double>(used) / sum_log;
}

int64_t pca_intrinsic_dimension(const torch::Tensor& X, double threshold) {
  check_features(X, "PCA intrinsic dimension", 2);
  if (!(threshold > 0 && threshold <= 1)) {
    throw Error("PCA intrinsic dimension: the threshold must be in (0, 1]");
  }
  const torch::Tensor cumulative = scatter_spectrum(X).cumsum(0);
  const double total = cumulative[-1].item<double>();
  if (total <= 0) return 0;  // all samples identical: no direction carries variance
  const auto reached = (cumulative / total >= threshold - kCumulativeSlack).nonzero();
  return reached[0].item<int64_t>() + 1;
}

int64_t numerical_rank(const torch::Tensor& X) {
  check_features(X, "numerical rank", 1);
  const torch::Tensor s = scatter_spectrum(X).sqrt();
  const double s_max = s[0].item<double>();
  if (s_max <= 0) return 0;
  const double tol = static_cast<double>(std::max(X.size(0), X.size(1))) * kFeatureEps * s_max;
  return (s > tol).sum().item<int64_t>();
}

double ncc_accuracy(const torch::Tensor& X, const torch::Tensor& labels, int64_t num_classes) {
  check_features(X, "NCC accuracy", 1);
  const int64_t n = X.size(0);
  const torch::Tensor l = checked_labels(labels, n, num_classes, "NCC accuracy").to(X.device());
  const int64_t rows = std::max<int64_t>(1, kBlockElements / X.size(1));
  const auto [sums, counts] = class_sums(X, l, num_classes, rows);
  const torch::Tensor global = sums.sum(0, true) / static_cast<double>(n);
  const torch::Tensor means = sums / counts.clamp_min(1).unsqueeze(1) - global;
  int64_t correct = 0;
  for (int64_t b = 0; b < n; b += rows) {
    const torch::Tensor x = X.slice(0, b, b + rows).to(torch::kDouble) - global;
    correct += ncc_correct(x, l.slice(0, b, b + rows), means, counts);
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

double linear_cka(const torch::Tensor& X, const torch::Tensor& Y, CkaForm form) {
  check_features(X, "linear CKA (X)", 2);
  check_features(Y, "linear CKA (Y)", 2);
  if (X.size(0) != Y.size(0)) {
    throw Error("linear CKA: X has " + std::to_string(X.size(0)) + " rows but Y has " +
                std::to_string(Y.size(0)) + "; both must hold the same samples");
  }
  const bool gram = form == CkaForm::gram ||
                    (form == CkaForm::automatic && X.size(0) < std::max(X.size(1), Y.size(1)));
  if (gram) return cka_of_grams(gram_of_centered(X), gram_of_centered(Y));
  const torch::Tensor xc = centered_columns(X, 0, X.size(1));
  const torch::Tensor yc = centered_columns(Y, 0, Y.size(1)).to(xc.device());
  return cka_ratio(yc.t().mm(xc).square().sum().item<double>(), frobenius(xc.t().mm(xc)),
                   frobenius(yc.t().mm(yc)));
}

}  // namespace kd
