// F-measure (Achanta et al., CVPR 2009) as PySODMetrics v1.4.3's Fmeasure:
// F = (1 + beta2) P R / (beta2 P + R) with beta2 = 0.3, at the adaptive
// threshold min(2 * mean, 1) and at the 256 levels floor(pred * 255) >= t,
// whose precision / recall also give the PR curve. maxF / meanF of a set of
// images are the max / mean of the image-averaged curve.
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

constexpr double kFBeta2 = 0.3;

struct FMeasure {
  double adaptive = 0.0;
  // Index t = threshold level t (ascending).
  Curve precision{};
  Curve recall{};
  Curve f{};
};

FMeasure f_measure(const PreparedPair& pair, double beta2 = kFBeta2);

double curve_max(const Curve& c);
double curve_mean(const Curve& c);

}  // namespace cosal::metrics
