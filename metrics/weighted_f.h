// Weighted F-measure (Margolin, Zelnik-Manor and Tal, CVPR 2014) as
// PySODMetrics v1.4.3's WeightedFmeasure (beta = 1): errors outside the object
// take the error of the nearest object pixel (exact Euclidean feature
// transform), are smoothed by MATLAB's fspecial('gaussian', 7, 5) with zero
// padding, and weighted by distance from the object. An empty ground truth
// scores 0.
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

double weighted_f(const PreparedPair& pair, double beta = 1.0);

}  // namespace cosal::metrics
