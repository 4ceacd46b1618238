#include "weighted_f.h"

#include <cmath>

#include "distance_transform.h"

namespace cosal::metrics {

namespace {

constexpr int kRadius = 3;      // 7 x 7 kernel
constexpr double kSigma = 5.0;  // fspecial('gaussian', 7, 5)

// The 2-D kernel exp(-(x^2 + y^2) / (2 sigma^2)) / sum is the outer product of
// this normalised 1-D kernel with itself (no entry falls under MATLAB's
// eps * max cut-off at this size), so the filter runs as two 1-D passes.
std::array<double, 2 * kRadius + 1> gaussian_1d() {
  std::array<double, 2 * kRadius + 1> k{};
  double sum = 0.0;
  for (int i = -kRadius; i <= kRadius; ++i) {
    k[i + kRadius] = std::exp(-(i * i) / (2 * kSigma * kSigma));
    sum += k[i + kRadius];
  }
  for (double& v : k) v /= sum;
  return k;
}

}  // namespace

double weighted_f(const PreparedPair& p, double beta) {
  if (p.fg_count == 0) return 0.0;
  const int w = p.width, h = p.height;
  const size_t n = p.size();
  const FeatureTransform ft = euclidean_feature_transform(p.gt, w, h);

  // E = |pred - gt|; Et copies the error of the nearest object pixel outside
  // the object, so the smoothing below treats the object's edges correctly.
  std::vector<double> e(n), et(n);
  for (size_t i = 0; i < n; ++i) e[i] = std::fabs(p.pred(i) - p.gt[i]);
  for (size_t i = 0; i < n; ++i)
    et[i] = p.gt[i] ? e[i] : e[static_cast<size_t>(ft.row[i]) * w + ft.col[i]];

  // EA = Et filtered with zero padding; only needed inside the object.
  const auto k = gaussian_1d();
  std::vector<double> horiz(n);
  for (int y = 0; y < h; ++y) {
    const double* src = et.data() + static_cast<size_t>(y) * w;
    double* dst = horiz.data() + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      double s = 0.0;
      for (int j = -kRadius; j <= kRadius; ++j) {
        const int xx = x + j;
        if (xx >= 0 && xx < w) s += k[j + kRadius] * src[xx];
      }
      dst[x] = s;
    }
  }

  const double decay = std::log(0.5) / 5;
  double ew_fg = 0.0, ew_bg = 0.0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      if (p.gt[i]) {
        double ea = 0.0;
        for (int j = -kRadius; j <= kRadius; ++j) {
          const int yy = y + j;
          if (yy >= 0 && yy < h) ea += k[j + kRadius] * horiz[static_cast<size_t>(yy) * w + x];
        }
        ew_fg += ea < e[i] ? ea : e[i];  // pixel importance B = 1 inside
      } else {
        ew_bg += e[i] * (2 - std::exp(decay * ft.distance[i]));
      }
    }
  }
  const double fg = static_cast<double>(p.fg_count);
  const double tpw = fg - ew_fg;
  const double fpw = ew_bg;
  const double recall = 1 - ew_fg / fg;
  const double precision = tpw / (tpw + fpw + kEps);
  return (1 + beta) * recall * precision / (recall + beta * precision + kEps);
}

}  // namespace cosal::metrics
