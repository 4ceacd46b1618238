// Exact Euclidean feature transform of a 2-D mask: for every pixel, the
// nearest feature pixel and the squared distance to it. It reproduces
// scipy.ndimage's distance_transform_edt(..., return_indices=True) (Maurer,
// Qi and Raghavan, IEEE PAMI 2003), tie-breaking included, because the
// weighted F-measure copies errors from the nearest feature pixel and which of
// several equidistant ones is picked changes the score.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace cosal::metrics {

struct FeatureTransform {
  int width = 0, height = 0;
  // Row / column of the nearest feature pixel; -1 when the mask has none.
  std::vector<int32_t> row;
  std::vector<int32_t> col;
  // Squared Euclidean distance to it (exact integer); -1 when none.
  std::vector<int64_t> squared;

  double distance(size_t i) const {
    return squared[i] < 0 ? std::numeric_limits<double>::infinity()
                          : std::sqrt(static_cast<double>(squared[i]));
  }
};

// is_feature: width * height bytes, row-major; non-zero marks a feature pixel
// (scipy's input is the complement: its zeros are the features). `out` is
// reused, so repeated calls on same-size masks do not allocate.
void euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width, int height,
                                 FeatureTransform& out);
FeatureTransform euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width,
                                             int height);

}  // namespace cosal::metrics
