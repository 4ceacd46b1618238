#include "distance_transform.h"

#include <algorithm>
#include <stdexcept>

namespace cosal::metrics {

void euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width, int height,
                                 FeatureTransform& ft) {
  const size_t n = static_cast<size_t>(width) * height;
  if (width <= 0 || height <= 0 || is_feature.size() != n)
    throw std::invalid_argument("euclidean_feature_transform: mask size does not match");
  ft.width = width;
  ft.height = height;
  ft.row.resize(n);
  ft.col.resize(n);
  ft.squared.resize(n);

  // Pass 1, down each column (scipy's _VoronoiFT along dimension 0). All
  // candidates of a column share its x, so the parabola test never removes
  // one and the pass reduces to: the nearest feature in the column, the upper
  // one on a tie ("delta1 <= delta2" keeps the earlier). Two sweeps over rows
  // keep the memory access sequential. ft.row holds the column's feature row.
  std::vector<int32_t> nearest(static_cast<size_t>(width), -1);
  for (int y = 0; y < height; ++y) {
    const uint8_t* m = is_feature.data() + static_cast<size_t>(y) * width;
    int32_t* r = ft.row.data() + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      if (m[x]) nearest[x] = y;
      r[x] = nearest[x];
    }
  }
  std::fill(nearest.begin(), nearest.end(), -1);
  for (int y = height - 1; y >= 0; --y) {
    const uint8_t* m = is_feature.data() + static_cast<size_t>(y) * width;
    int32_t* r = ft.row.data() + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      if (m[x]) nearest[x] = y;
      const int32_t below = nearest[x];
      if (below >= 0 && (r[x] < 0 || below - y < y - r[x])) r[x] = below;
    }
  }

  // Pass 2, along each row (_VoronoiFT along dimension 1): the lower envelope
  // of the candidates (x, pass-1 row), with scipy's removal test and walk.
  // The test's terms are integers far below 2^53, so int64 arithmetic decides
  // exactly as scipy's doubles do.
  std::vector<int32_t> g(static_cast<size_t>(width));
  std::vector<int32_t> line(static_cast<size_t>(width));
  for (int y = 0; y < height; ++y) {
    const size_t off = static_cast<size_t>(y) * width;
    std::copy(ft.row.begin() + off, ft.row.begin() + off + width, line.begin());
    auto dy2 = [&](int32_t x) {
      const int64_t d = line[x] - y;
      return d * d;
    };
    int l = -1;
    for (int32_t x = 0; x < width; ++x) {
      if (line[x] < 0) continue;
      const int64_t wr = dy2(x);
      while (l >= 1) {
        const int32_t idx1 = g[l], idx2 = g[l - 1];
        const int64_t a = idx1 - idx2, b = x - idx1, c = a + b;
        if (c * dy2(idx1) - b * dy2(idx2) - a * wr - a * b * c <= 0) break;
        --l;
      }
      g[++l] = x;
    }
    const int maxl = l;
    int32_t* out_row = ft.row.data() + off;
    int32_t* out_col = ft.col.data() + off;
    int64_t* out_sq = ft.squared.data() + off;
    if (maxl < 0) {  // no feature anywhere in the mask
      std::fill(out_row, out_row + width, -1);
      std::fill(out_col, out_col + width, -1);
      std::fill(out_sq, out_sq + width, -1);
      continue;
    }
    auto dist2 = [&](int32_t k, int32_t x) {
      const int64_t dx = k - x;
      return dx * dx + dy2(k);
    };
    l = 0;
    for (int32_t x = 0; x < width; ++x) {
      int64_t delta1 = dist2(g[l], x);
      while (l < maxl) {
        const int64_t delta2 = dist2(g[l + 1], x);
        if (delta1 <= delta2) break;
        delta1 = delta2;
        ++l;
      }
      out_row[x] = line[g[l]];
      out_col[x] = g[l];
      out_sq[x] = delta1;
    }
  }
}

FeatureTransform euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width,
                                             int height) {
  FeatureTransform ft;
  euclidean_feature_transform(is_feature, width, height, ft);
  return ft;
}

}  // namespace cosal::metrics
