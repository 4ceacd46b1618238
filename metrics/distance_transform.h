// Exact Euclidean feature transform of a 2-D mask: for every pixel, the
// nearest feature pixel and the distance to it. It follows scipy.ndimage's
// distance_transform_edt(..., return_indices=True) (Maurer, Qi and Raghavan,
// IEEE PAMI 2003) step by step, because the weighted F-measure copies errors
// from the nearest feature pixel and which of several equidistant ones is
// picked changes the score.
#pragma once

#include <cstdint>
#include <vector>

namespace cosal::metrics {

struct FeatureTransform {
  // Row / column of the nearest feature pixel; -1 when the mask has none.
  std::vector<int32_t> row;
  std::vector<int32_t> col;
  std::vector<double> distance;
};

// is_feature: width * height bytes, row-major; non-zero marks a feature pixel
// (scipy's input is the complement: its zeros are the features).
FeatureTransform euclidean_feature_transform(const std::vector<uint8_t>& is_feature, int width,
                                             int height);

}  // namespace cosal::metrics
