#include "analysis/tsne.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "data/seeded_random.h"

namespace kd::tsne {
namespace {

constexpr double kExaggeration = 12;          // early exaggeration of P (van der Maaten 2014)
constexpr int kExaggerationIterations = 250;  // iterations with exaggerated P
constexpr int kMomentumSwitch = 250;          // iteration where momentum goes from 0.5 to 0.8
constexpr double kInitialMomentum = 0.5;      // momentum while the clusters form
constexpr double kFinalMomentum = 0.8;        // momentum afterwards
constexpr double kGainStep = 0.2;             // gain increase while a step keeps its direction
constexpr double kGainDecay = 0.8;            // gain factor when a step reverses
constexpr double kMinGain = 0.01;             // gains never drop below this
constexpr double kInitStd = 1e-4;             // standard deviation of the Gaussian initial Y
constexpr int kReportEvery = 25;              // iterations between progress reports
constexpr double kDistanceShare = 0.05;       // progress fraction given to the distances
constexpr double kAffinityShare = 0.1;        // ... and to all input similarities
constexpr double kEntropyTolerance = 1e-5;    // |H - log(perplexity)| that ends the search
constexpr int kMaxSearchSteps = 200;          // bisection steps per point at most
constexpr int64_t kCalibrationChunk = 256;    // rows between cancel checks while calibrating
constexpr int64_t kBlockElements = int64_t{1} << 24;  // distance-block size (floats)
constexpr int64_t kBlockWork = int64_t{1} << 34;      // multiply-adds per block (cancel latency)
constexpr int64_t kMinBlockRows = 256;                // keeps the products efficient
constexpr int64_t kGrain = 32;                        // rows per parallel_for task
constexpr int kMaxTreeDepth = 64;                     // quadtree depth bound (identical points)

void report(ProgressSink* progress, double fraction, const std::string& message) {
  if (progress != nullptr) progress->progress(fraction, message);
}

/// X centered by its mean in float32 (float64 kept), so distances lose less to cancellation.
torch::Tensor centered_features(const torch::Tensor& X) {
  const torch::Tensor f = X.scalar_type() == torch::kDouble ? X : X.to(torch::kFloat);
  return f - f.mean(0, true);
}

/// Rows per distance block: the (rows x N) block stays near kBlockElements entries and, for
/// wide features, near kBlockWork multiply-adds so that cancel and progress come regularly.
int64_t block_rows(const torch::Tensor& X) {
  const int64_t n = X.size(0), work = std::max<int64_t>(1, n * X.size(1));
  const int64_t rows = std::min(kBlockElements / n, std::max(kMinBlockRows, kBlockWork / work));
  return std::clamp<int64_t>(rows, 1, n);
}

/// Cancel check before a distance block, progress after it.
template <typename Fn>
void for_distance_blocks(const torch::Tensor& X, ProgressSink* progress, Fn&& fn) {
  const int64_t n = X.size(0), rows = block_rows(X);
  for (int64_t begin = 0; begin < n; begin += rows) {
    throw_if_cancelled(progress);
    const int64_t end = std::min(n, begin + rows);
    fn(begin, end);
    report(progress, kDistanceShare * static_cast<double>(end) / static_cast<double>(n),
           "t-SNE: distances");
  }
}

/// Squared distances of rows [begin, end) of Xc to all rows, float64 on the CPU.
torch::Tensor squared_distance_block(const torch::Tensor& Xc, int64_t begin, int64_t end) {
  return torch::cdist(Xc.slice(0, begin, end), Xc).pow(2).to(torch::kCPU, torch::kDouble);
}

/// Calls fn(begin, end) on row chunks with a cancel check and a progress report between chunks.
void calibrate_in_chunks(int64_t n, ProgressSink* progress,
                         const std::function<void(int64_t, int64_t)>& fn) {
  for (int64_t begin = 0; begin < n; begin += kCalibrationChunk) {
    throw_if_cancelled(progress);
    const int64_t end = std::min(n, begin + kCalibrationChunk);
    at::parallel_for(begin, end, kGrain, fn);
    report(progress,
           kDistanceShare + (kAffinityShare - kDistanceShare) * static_cast<double>(end) /
                                static_cast<double>(n),
           "t-SNE: input similarities");
  }
}

/// Entropy (nats) of exp(-beta * s) normalised, and the unnormalised weights.
double entropy_of(const std::vector<double>& shifted, double beta, std::vector<double>& w,
                  double& sum) {
  sum = 0;
  double weighted = 0;
  for (size_t j = 0; j < shifted.size(); ++j) {
    w[j] = std::exp(-beta * shifted[j]);
    sum += w[j];
    weighted += shifted[j] * w[j];
  }
  return std::log(sum) + beta * weighted / sum;
}

/// A Y of small Gaussian values from the seed (Box-Muller on the project's seeded generator).
std::vector<double> initial_embedding(int64_t n, int dims, uint64_t seed) {
  SeededRandom random(mix_seed(seed, 0x75e));
  constexpr double kUnit = 1.0 / 9007199254740992.0;  // 2^-53
  std::vector<double> y(static_cast<size_t>(n * dims));
  for (double& v : y) {
    const double u1 = static_cast<double>((random.next() >> 11) + 1) * kUnit;
    const double u2 = static_cast<double>(random.next() >> 11) * kUnit;
    v = kInitStd * std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }
  return y;
}

/// Moves the mean of Y to the origin (t-SNE's cost does not depend on it).
void center(std::vector<double>& y, int dims) {
  const auto n = static_cast<int64_t>(y.size()) / dims;
  for (int d = 0; d < dims; ++d) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += y[i * dims + d];
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) y[i * dims + d] -= mean;
  }
}

/// Gradient of the cost at Y for a given exaggeration of P.
using GradientFn = std::function<std::vector<double>(const std::vector<double>&, double)>;

/// Gradient descent with momentum and per-coordinate gains (Jacobs 1988, as in the t-SNE
/// papers), early exaggeration, Y re-centered after every step.
std::vector<double> optimise(int64_t n, const TsneOptions& options, const GradientFn& gradient,
                             ProgressSink* progress) {
  std::vector<double> y = initial_embedding(n, options.dims, options.seed);
  std::vector<double> update(y.size(), 0.0);
  std::vector<double> gains(y.size(), 1.0);
  for (int it = 0; it < options.iterations; ++it) {
    throw_if_cancelled(progress);
    const double exaggeration = it < kExaggerationIterations ? kExaggeration : 1.0;
    const double momentum = it < kMomentumSwitch ? kInitialMomentum : kFinalMomentum;
    const std::vector<double> grad = gradient(y, exaggeration);
    for (size_t k = 0; k < y.size(); ++k) {
      const bool same_direction = (grad[k] > 0) != (update[k] > 0);  // the step is -grad
      gains[k] = std::max(kMinGain, same_direction ? gains[k] + kGainStep : gains[k] * kGainDecay);
      update[k] = momentum * update[k] - options.learning_rate * gains[k] * grad[k];
      y[k] += update[k];
    }
    center(y, options.dims);
    if ((it + 1) % kReportEvery == 0 || it + 1 == options.iterations) {
      report(progress, kAffinityShare + (1 - kAffinityShare) * (it + 1) / options.iterations,
             "t-SNE: iteration " + std::to_string(it + 1) + " / " +
                 std::to_string(options.iterations));
    }
  }
  return y;
}

/// Quadtree over a 2-D embedding; each cell keeps its point count and center of mass.
class QuadTree {
 public:
  explicit QuadTree(const std::vector<double>& y);
  /// Adds point i's repulsion sum_j w_ij^2 (y_i - y_j) to f and sum_j w_ij to z.
  void repulsion(int64_t i, double theta, double& z, std::array<double, 2>& f,
                 std::vector<int64_t>& stack) const;

 private:
  struct Node {
    double cx = 0, cy = 0, half = 0;  // cell center and half width
    double mx = 0, my = 0;            // center of mass
    int64_t begin = 0, end = 0;       // range in order_
    int64_t child = -1;               // first of four children, -1 for a leaf
  };
  void build(int64_t node, int depth);
  const std::vector<double>& y_;
  std::vector<int64_t> order_;
  std::vector<Node> nodes_;
};

QuadTree::QuadTree(const std::vector<double>& y) : y_(y), order_(y.size() / 2) {
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  double lo[2] = {y[0], y[1]}, hi[2] = {y[0], y[1]};
  for (size_t k = 0; k < y.size(); ++k) {
    lo[k % 2] = std::min(lo[k % 2], y[k]);
    hi[k % 2] = std::max(hi[k % 2], y[k]);
  }
  Node root;
  root.cx = (lo[0] + hi[0]) / 2;
  root.cy = (lo[1] + hi[1]) / 2;
  root.half = std::max(hi[0] - lo[0], hi[1] - lo[1]) / 2;
  root.end = static_cast<int64_t>(order_.size());
  nodes_.push_back(root);
  build(0, 0);
}

void QuadTree::build(int64_t node, int depth) {
  const Node n = nodes_[node];  // a copy: push_back below may move the nodes
  if (n.begin == n.end) return;
  double mx = 0, my = 0;
  bool identical = true;
  const int64_t head = order_[n.begin];
  for (int64_t k = n.begin; k < n.end; ++k) {
    const int64_t j = order_[k];
    mx += y_[2 * j];
    my += y_[2 * j + 1];
    identical = identical && y_[2 * j] == y_[2 * head] && y_[2 * j + 1] == y_[2 * head + 1];
  }
  const auto count = static_cast<double>(n.end - n.begin);
  nodes_[node].mx = mx / count;
  nodes_[node].my = my / count;
  if (n.end - n.begin <= 1 || identical || depth >= kMaxTreeDepth) return;
  const auto first = order_.begin() + n.begin, last = order_.begin() + n.end;
  const auto x_split = std::partition(first, last, [&](int64_t j) { return y_[2 * j] < n.cx; });
  const auto below_y = [&](int64_t j) { return y_[2 * j + 1] < n.cy; };
  const std::array<int64_t, 5> bounds = {
      n.begin, std::partition(first, x_split, below_y) - order_.begin(), x_split - order_.begin(),
      std::partition(x_split, last, below_y) - order_.begin(), n.end};
  const auto child = static_cast<int64_t>(nodes_.size());
  nodes_[node].child = child;
  for (int q = 0; q < 4; ++q) {
    Node c;
    c.half = n.half / 2;
    c.cx = n.cx + (q >= 2 ? c.half : -c.half);
    c.cy = n.cy + (q % 2 == 1 ? c.half : -c.half);
    c.begin = bounds[q];
    c.end = bounds[q + 1];
    nodes_.push_back(c);
  }
  for (int q = 0; q < 4; ++q) build(child + q, depth + 1);
}

void QuadTree::repulsion(int64_t i, double theta, double& z, std::array<double, 2>& f,
                         std::vector<int64_t>& stack) const {
  const double yx = y_[2 * i], yy = y_[2 * i + 1];
  const auto add = [&](double px, double py, double mass) {
    const double dx = yx - px, dy = yy - py;
    const double w = 1 / (1 + dx * dx + dy * dy);
    z += mass * w;
    f[0] += mass * w * w * dx;
    f[1] += mass * w * w * dy;
  };
  stack.assign(1, 0);
  while (!stack.empty()) {
    const Node& n = nodes_[stack.back()];
    stack.pop_back();
    if (n.begin == n.end) continue;
    if (n.child < 0) {
      for (int64_t k = n.begin; k < n.end; ++k) {
        if (order_[k] != i) add(y_[2 * order_[k]], y_[2 * order_[k] + 1], 1);
      }
      continue;
    }
    const double dx = yx - n.mx, dy = yy - n.my;
    const double diagonal_sq = 8 * n.half * n.half;  // (2 half)^2 * 2
    if (diagonal_sq < theta * theta * (dx * dx + dy * dy)) {
      add(n.mx, n.my, static_cast<double>(n.end - n.begin));
    } else {
      for (int q = 0; q < 4; ++q) stack.push_back(n.child + q);
    }
  }
}

/// grad_i = 4 (attraction_i - repulsion_i / Z) from per-point parts; Z summed in a fixed order.
std::vector<double> combine(const std::vector<double>& attraction,
                            const std::vector<double>& repulsion, const std::vector<double>& z) {
  double total = 0;
  for (double v : z) total += v;
  std::vector<double> grad(attraction.size());
  for (size_t k = 0; k < grad.size(); ++k) grad[k] = 4 * (attraction[k] - repulsion[k] / total);
  return grad;
}

/// Symmetrises conditional rows (nbr[i*k + m], cond[i*k + m]) into (P + P^T) / 2N, in CSR form.
SparseAffinities symmetrise(int64_t n, int64_t k, const std::vector<int64_t>& nbr,
                            const std::vector<double>& cond) {
  std::vector<int64_t> start(static_cast<size_t>(n + 1), 0);
  for (int64_t e = 0; e < n * k; ++e) {
    ++start[e / k + 1];
    ++start[nbr[e] + 1];
  }
  for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<std::pair<int64_t, double>> entries(static_cast<size_t>(start[n]));
  std::vector<int64_t> cursor(start.begin(), start.end() - 1);
  for (int64_t e = 0; e < n * k; ++e) {
    entries[cursor[e / k]++] = {nbr[e], cond[e]};
    entries[cursor[nbr[e]]++] = {e / k, cond[e]};
  }
  SparseAffinities out;
  out.row_start.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    std::sort(entries.begin() + start[i], entries.begin() + start[i + 1]);
    for (int64_t e = start[i]; e < start[i + 1]; ++e) {
      const double value = entries[e].second / (2.0 * static_cast<double>(n));
      if (e > start[i] && entries[e].first == entries[e - 1].first) {
        out.p.back() += value;
      } else {
        out.col.push_back(entries[e].first);
        out.p.push_back(value);
      }
    }
    out.row_start.push_back(static_cast<int64_t>(out.col.size()));
  }
  return out;
}

}  // namespace

std::vector<double> calibrate_row(const std::vector<double>& sq_dist, double perplexity) {
  const double nearest = *std::min_element(sq_dist.begin(), sq_dist.end());
  std::vector<double> shifted(sq_dist.size()), w(sq_dist.size());
  double mean = 0;
  for (size_t j = 0; j < sq_dist.size(); ++j) {
    shifted[j] = sq_dist[j] - nearest;  // exp(-beta * shifted) never underflows to all zeros
    mean += sq_dist[j] / static_cast<double>(sq_dist.size());
  }
  const double target = std::log(perplexity);
  double beta = mean > 0 ? 1 / mean : 1, lo = 0, hi = std::numeric_limits<double>::infinity();
  double sum = 0;
  for (int step = 0; step < kMaxSearchSteps; ++step) {
    const double diff = entropy_of(shifted, beta, w, sum) - target;
    if (std::abs(diff) < kEntropyTolerance) break;
    if (diff > 0) {  // too flat: narrow the Gaussian
      lo = beta;
      beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = (beta + lo) / 2;
    }
  }
  entropy_of(shifted, beta, w, sum);
  for (double& v : w) v /= sum;
  return w;
}

std::vector<double> dense_affinities(const torch::Tensor& X, double perplexity,
                                     ProgressSink* progress) {
  const int64_t n = X.size(0);
  const torch::Tensor xc = centered_features(X);
  std::vector<double> sq(static_cast<size_t>(n * n));
  for_distance_blocks(xc, progress, [&](int64_t begin, int64_t end) {
    const torch::Tensor block = squared_distance_block(xc, begin, end).contiguous();
    std::copy_n(block.data_ptr<double>(), block.numel(), sq.begin() + begin * n);
  });
  std::vector<double> cond(sq.size(), 0.0);
  calibrate_in_chunks(n, progress, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      std::vector<double> row(sq.begin() + i * n, sq.begin() + (i + 1) * n);
      row.erase(row.begin() + i);
      const std::vector<double> p = calibrate_row(row, perplexity);
      std::copy(p.begin(), p.begin() + i, cond.begin() + i * n);
      std::copy(p.begin() + i, p.end(), cond.begin() + i * n + i + 1);
    }
  });
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) sq[i * n + j] = (cond[i * n + j] + cond[j * n + i]) / (2.0 * n);
  }
  return sq;
}

SparseAffinities sparse_affinities(const torch::Tensor& X, double perplexity,
                                   ProgressSink* progress) {
  const int64_t n = X.size(0);
  const int64_t k = std::min<int64_t>(n - 1, static_cast<int64_t>(3 * perplexity));
  const torch::Tensor xc = centered_features(X);
  std::vector<int64_t> nbr(static_cast<size_t>(n * k));
  std::vector<double> sq(nbr.size());
  for_distance_blocks(xc, progress, [&](int64_t begin, int64_t end) {
    torch::Tensor d = torch::cdist(xc.slice(0, begin, end), xc);
    d.diagonal(begin).fill_(std::numeric_limits<double>::infinity());
    const auto [values, indices] = d.topk(k, 1, /*largest=*/false, /*sorted=*/true);
    const torch::Tensor v = values.pow(2).to(torch::kCPU, torch::kDouble).contiguous();
    const torch::Tensor idx = indices.to(torch::kCPU, torch::kLong).contiguous();
    std::copy_n(v.data_ptr<double>(), v.numel(), sq.begin() + begin * k);
    std::copy_n(idx.data_ptr<int64_t>(), idx.numel(), nbr.begin() + begin * k);
  });
  calibrate_in_chunks(n, progress, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::vector<double> row(sq.begin() + i * k, sq.begin() + (i + 1) * k);
      const std::vector<double> p = calibrate_row(row, perplexity);
      std::copy(p.begin(), p.end(), sq.begin() + i * k);
    }
  });
  return symmetrise(n, k, nbr, sq);
}

std::vector<double> exact_gradient(const std::vector<double>& P, const std::vector<double>& Y,
                                   int dims, double exaggeration) {
  const auto n = static_cast<int64_t>(Y.size()) / dims;
  std::vector<double> attraction(Y.size(), 0.0), repulsion(Y.size(), 0.0), z(n, 0.0);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        std::array<double, 3> diff{};
        double d2 = 0;
        for (int d = 0; d < dims; ++d) {
          diff[d] = Y[i * dims + d] - Y[j * dims + d];
          d2 += diff[d] * diff[d];
        }
        const double w = 1 / (1 + d2);
        const double pw = exaggeration * P[i * n + j] * w;
        z[i] += w;
        for (int d = 0; d < dims; ++d) {
          attraction[i * dims + d] += pw * diff[d];
          repulsion[i * dims + d] += w * w * diff[d];
        }
      }
    }
  });
  return combine(attraction, repulsion, z);
}

std::vector<double> barnes_hut_gradient(const SparseAffinities& P, const std::vector<double>& Y,
                                        double theta, double exaggeration) {
  const auto n = static_cast<int64_t>(Y.size()) / 2;
  const QuadTree tree(Y);
  std::vector<double> attraction(Y.size(), 0.0), repulsion(Y.size(), 0.0), z(n, 0.0);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> stack;
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t e = P.row_start[i]; e < P.row_start[i + 1]; ++e) {
        const int64_t j = P.col[e];
        const double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
        const double pw = exaggeration * P.p[e] / (1 + dx * dx + dy * dy);
        attraction[2 * i] += pw * dx;
        attraction[2 * i + 1] += pw * dy;
      }
      std::array<double, 2> f{0, 0};
      tree.repulsion(i, theta, z[i], f, stack);
      repulsion[2 * i] = f[0];
      repulsion[2 * i + 1] = f[1];
    }
  });
  return combine(attraction, repulsion, z);
}

std::vector<double> run(const torch::Tensor& X, const TsneOptions& options,
                        ProgressSink* progress) {
  const int64_t n = X.size(0);
  if (options.theta <= 0) {
    const std::vector<double> P = dense_affinities(X, options.perplexity, progress);
    return optimise(
        n, options,
        [&](const std::vector<double>& y, double ex) {
          return exact_gradient(P, y, options.dims, ex);
        },
        progress);
  }
  const SparseAffinities P = sparse_affinities(X, options.perplexity, progress);
  return optimise(
      n, options,
      [&](const std::vector<double>& y, double ex) {
        return barnes_hut_gradient(P, y, options.theta, ex);
      },
      progress);
}

}  // namespace kd::tsne
