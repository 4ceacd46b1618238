#include "s_measure.h"

#include <cmath>

namespace cosal::metrics {

namespace {

// numpy.round of sum / n (half to even), in exact integer arithmetic.
int64_t round_half_even(int64_t sum, int64_t n) {
  const int64_t q = sum / n, r = sum - q * n;
  if (2 * r > n) return q + 1;
  if (2 * r == n) return q + (q % 2 != 0 ? 1 : 0);
  return q;
}

// MATLAB round of sum / n (half away from zero; sum, n >= 0).
int64_t round_half_up(int64_t sum, int64_t n) {
  const int64_t q = sum / n, r = sum - q * n;
  return 2 * r >= n ? q + 1 : q;
}

// 1-based centroid coordinate: the split puts rows [0, c) above, [c, size) below.
int64_t centroid(int64_t index_sum, int64_t count, CentroidRounding rounding) {
  if (rounding == CentroidRounding::Matlab) return round_half_up(index_sum + count, count);
  return round_half_even(index_sum, count) + 1;
}

double s_object(const Moments& m) {
  // np.std(ddof=1); n == 1 gives 0 / 0 = NaN as in numpy.
  const double std_dev = std::sqrt(m.ssd / static_cast<double>(m.n - 1));
  return 2.0 * m.mean / (m.mean * m.mean + 1.0 + std_dev + kEps);
}

double object_score(const PreparedPair& p) {
  const double gt_mean = static_cast<double>(p.fg_count) / static_cast<double>(p.size());
  std::array<double, 256> inverted{};
  for (int v = 0; v < 256; ++v) inverted[v] = 1.0 - p.value[v];
  const double fg = s_object(moments(p.fg_hist, p.value)) * gt_mean;
  const double bg = s_object(moments(p.bg_hist, inverted)) * (1.0 - gt_mean);
  return fg + bg;
}

// Histograms of one quadrant, split by the ground-truth bit.
struct Quadrant {
  std::array<int64_t, 256> fg{}, bg{};
};

double ssim(const Quadrant& q, const std::array<double, 256>& value) {
  std::array<int64_t, 256> all{};
  int64_t nfg = 0;
  for (int v = 0; v < 256; ++v) {
    all[v] = q.fg[v] + q.bg[v];
    nfg += q.fg[v];
  }
  const Moments mx = moments(all, value);
  const double n = static_cast<double>(mx.n);
  const double x = mx.mean;
  const double y = static_cast<double>(nfg) / n;
  const double sigma_x = mx.ssd / (n - 1);
  const double sigma_y =
      (static_cast<double>(nfg) * (1 - y) * (1 - y) + static_cast<double>(mx.n - nfg) * y * y) /
      (n - 1);
  double sxy = 0.0;
  for (int v = 0; v < 256; ++v) {
    const double dx = value[v] - x;
    if (q.fg[v]) sxy += static_cast<double>(q.fg[v]) * dx * (1 - y);
    if (q.bg[v]) sxy += static_cast<double>(q.bg[v]) * dx * (0 - y);
  }
  const double sigma_xy = sxy / (n - 1);
  const double alpha = 4 * x * y * sigma_xy;
  const double beta = (x * x + y * y) * (sigma_x + sigma_y);
  if (alpha != 0) return alpha / (beta + kEps);  // NaN takes this branch too, as in Python
  if (beta == 0) return 1.0;
  return 0.0;
}

double region_score(const PreparedPair& p, CentroidRounding rounding) {
  const int h = p.height, w = p.width;
  const double area = static_cast<double>(h) * w;
  const int64_t cy = centroid(p.fg_row_sum, p.fg_count, rounding);
  const int64_t cx = centroid(p.fg_col_sum, p.fg_count, rounding);
  Quadrant quad[4];
  for (int y = 0; y < h; ++y) {
    const size_t row = static_cast<size_t>(y) * w;
    const int top = y < cy ? 0 : 2;
    for (int x = 0; x < w; ++x) {
      Quadrant& q = quad[top + (x < cx ? 0 : 1)];
      const uint8_t v = p.raw[row + x];
      if (p.gt[row + x])
        ++q.fg[v];
      else
        ++q.bg[v];
    }
  }
  const double w_lt = static_cast<double>(cx * cy) / area;
  const double w_rt = static_cast<double>(cy * (w - cx)) / area;
  const double w_lb = static_cast<double>((h - cy) * cx) / area;
  const double w_rb = 1 - w_lt - w_rt - w_lb;
  return ssim(quad[0], p.value) * w_lt + ssim(quad[1], p.value) * w_rt +
         ssim(quad[2], p.value) * w_lb + ssim(quad[3], p.value) * w_rb;
}

}  // namespace

double s_measure(const PreparedPair& p, const SMeasureOptions& options) {
  if (p.fg_count == 0) return 1.0 - p.pred_mean();
  if (p.fg_count == static_cast<int64_t>(p.size())) return p.pred_mean();
  const double score =
      options.alpha * object_score(p) + (1 - options.alpha) * region_score(p, options.centroid);
  // Python's max(0, score): NaN is not > 0, so it gives 0.
  return score > 0 ? score : 0.0;
}

}  // namespace cosal::metrics
