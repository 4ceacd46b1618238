#include "distance_transform.h"

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace cosal::metrics {

namespace {

using Feature = std::array<int64_t, 2>;

// scipy's _VoronoiFT for rank 2 along dimension d: c0 / c1 are the feature
// coordinates of the line (stride apart), coor the line's position in the
// other dimension.
void voronoi_ft(int32_t* c0, int32_t* c1, std::ptrdiff_t stride, int len, const int64_t coor[2],
                int d, std::vector<Feature>& f, std::vector<int>& g) {
  const int o = 1 - d;  // the other dimension
  for (int i = 0; i < len; ++i) f[i] = {c0[i * stride], c1[i * stride]};
  int l = -1;
  for (int i = 0; i < len; ++i) {
    if (f[i][0] < 0) continue;
    const double fd = static_cast<double>(f[i][d]);
    const double tw = static_cast<double>(f[i][o] - coor[o]);
    const double wr = tw * tw;
    while (l >= 1) {
      const int idx1 = g[l], idx2 = g[l - 1];
      const double f1 = static_cast<double>(f[idx1][d]);
      const double a = f1 - static_cast<double>(f[idx2][d]);
      const double b = fd - f1;
      const double c = a + b;
      const double tu = static_cast<double>(f[idx2][o] - coor[o]);
      const double tv = static_cast<double>(f[idx1][o] - coor[o]);
      const double ur = tu * tu, vr = tv * tv;
      if (c * vr - b * ur - a * wr - a * b * c <= 0.0) break;
      --l;
    }
    g[++l] = i;
  }
  const int maxl = l;
  if (maxl < 0) return;
  auto dist2 = [&](int k, int i) {
    const double td = static_cast<double>(f[k][d] - i);
    const double to = static_cast<double>(f[k][o] - coor[o]);
    return td * td + to * to;
  };
  l = 0;
  for (int i = 0; i < len; ++i) {
    double delta1 = dist2(g[l], i);
    while (l < maxl) {
      const double delta2 = dist2(g[l + 1], i);
      if (delta1 <= delta2) break;
      delta1 = delta2;
      ++l;
    }
    c0[i * stride] = static_cast<int32_t>(f[g[l]][0]);
    c1[i * stride] = static_cast<int32_t>(f[g[l]][1]);
  }
}

}  // namespace

FeatureTransform euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width,
                                             int height) {
  const size_t n = static_cast<size_t>(width) * height;
  if (width <= 0 || height <= 0 || is_feature.size() != n)
    throw std::invalid_argument("euclidean_feature_transform: mask size does not match");
  FeatureTransform ft;
  ft.row.assign(n, 0);
  ft.col.assign(n, 0);
  const int longest = width > height ? width : height;
  std::vector<Feature> f(longest);
  std::vector<int> g(longest);

  // Dimension 0 (down each column): a feature pixel is its own feature.
  for (int x = 0; x < width; ++x) {
    for (int y = 0; y < height; ++y) {
      const size_t i = static_cast<size_t>(y) * width + x;
      if (is_feature[i]) {
        ft.row[i] = y;
        ft.col[i] = x;
      } else {
        ft.row[i] = -1;
      }
    }
    const int64_t coor[2] = {0, x};
    voronoi_ft(ft.row.data() + x, ft.col.data() + x, width, height, coor, 0, f, g);
  }
  // Dimension 1 (along each row).
  for (int y = 0; y < height; ++y) {
    const size_t off = static_cast<size_t>(y) * width;
    const int64_t coor[2] = {y, 0};
    voronoi_ft(ft.row.data() + off, ft.col.data() + off, 1, width, coor, 1, f, g);
  }

  ft.distance.resize(n);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t i = static_cast<size_t>(y) * width + x;
      if (ft.row[i] < 0) {
        ft.col[i] = -1;
        ft.distance[i] = std::numeric_limits<double>::infinity();
        continue;
      }
      const double dy = ft.row[i] - y, dx = ft.col[i] - x;
      ft.distance[i] = std::sqrt(dy * dy + dx * dx);
    }
  }
  return ft;
}

}  // namespace cosal::metrics
