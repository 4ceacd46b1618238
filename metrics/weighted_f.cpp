#include "weighted_f.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "distance_transform.h"

namespace cosal::metrics {

namespace {

constexpr int kRadius = 3;      // 7 x 7 kernel
constexpr double kSigma = 5.0;  // fspecial('gaussian', 7, 5)

// The 2-D kernel exp(-(x^2 + y^2) / (2 sigma^2)) / sum is the outer product of
// this normalised 1-D kernel with itself (no entry falls under MATLAB's
// eps * max cut-off at this size), so the filter runs as two 1-D passes.
using Kernel = std::array<double, 7>;
static_assert(std::tuple_size<Kernel>::value == 2 * kRadius + 1, "kernel size");

Kernel gaussian_1d() {
  Kernel k{};
  double sum = 0.0;
  for (size_t j = 0; j < k.size(); ++j) {
    const double d = static_cast<double>(j) - kRadius;
    k[j] = std::exp(-(d * d) / (2 * kSigma * kSigma));
    sum += k[j];
  }
  for (double& v : k) v /= sum;
  return k;
}

// Buffers reused across calls (per thread): a frame's worth of doubles per
// call would otherwise cost more in page faults than the arithmetic.
struct Scratch {
  FeatureTransform ft;
  std::vector<double> et, horiz;
  // Pixel-importance factor 2 - exp(log(0.5) / 5 * distance) by squared
  // distance, filled on first use (NaN = not yet computed).
  std::vector<double> importance;
  double importance_of(int64_t squared) {
    const size_t i = static_cast<size_t>(squared);
    if (i >= importance.size()) importance.resize(i + 1, std::nan(""));
    double& v = importance[i];
    if (std::isnan(v))
      v = 2 - std::exp(std::log(0.5) / 5 * std::sqrt(static_cast<double>(squared)));
    return v;
  }
};

}  // namespace

double weighted_f(const PreparedPair& p, double beta) {
  if (p.fg_count == 0) return 0.0;
  thread_local Scratch s;
  const int w = p.width, h = p.height;
  const size_t n = p.size();
  euclidean_feature_transform(p.gt, w, h, s.ft);

  // E = |pred - gt| by raw value, inside (gt = 1) and outside (gt = 0).
  std::array<double, 256> e_in{}, e_out{};
  for (int v = 0; v < 256; ++v) {
    e_in[v] = std::fabs(p.value[v] - 1.0);
    e_out[v] = std::fabs(p.value[v]);
  }
  // Et: outside the object, the error of the nearest object pixel, so the
  // smoothing below treats the object's edges correctly.
  s.et.resize(n);
  int y_min = h, y_max = -1;
  for (int y = 0; y < h; ++y) {
    const size_t row = static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const size_t i = row + x;
      if (p.gt[i]) {
        s.et[i] = e_in[p.raw[i]];
        y_min = std::min(y_min, y);
        y_max = y;
      } else {
        s.et[i] = e_in[p.raw[static_cast<size_t>(s.ft.row[i]) * w + s.ft.col[i]]];
      }
    }
  }

  // EA = Et filtered with zero padding; only needed inside the object, so
  // the horizontal pass covers the object's rows and the filter's reach.
  const auto k = gaussian_1d();
  s.horiz.resize(n);
  const int r0 = std::max(0, y_min - kRadius), r1 = std::min(h - 1, y_max + kRadius);
  for (int y = r0; y <= r1; ++y) {
    const double* src = s.et.data() + static_cast<size_t>(y) * w;
    double* dst = s.horiz.data() + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      double sum = 0.0;
      if (x >= kRadius && x + kRadius < w) {
        for (int j = 0; j <= 2 * kRadius; ++j) sum += k[j] * src[x - kRadius + j];
      } else {
        for (int j = -kRadius; j <= kRadius; ++j)
          if (x + j >= 0 && x + j < w) sum += k[j + kRadius] * src[x + j];
      }
      dst[x] = sum;
    }
  }

  double ew_fg = 0.0, ew_bg = 0.0;
  for (int y = 0; y < h; ++y) {
    const size_t row = static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x) {
      const size_t i = row + x;
      if (p.gt[i]) {
        const double e = e_in[p.raw[i]];
        double ea = 0.0;
        for (int j = -kRadius; j <= kRadius; ++j) {
          const int yy = y + j;
          if (yy >= 0 && yy < h) ea += k[j + kRadius] * s.horiz[static_cast<size_t>(yy) * w + x];
        }
        ew_fg += ea < e ? ea : e;  // pixel importance B = 1 inside
      } else {
        const double e = e_out[p.raw[i]];
        if (e != 0.0) ew_bg += e * s.importance_of(s.ft.squared[i]);
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
