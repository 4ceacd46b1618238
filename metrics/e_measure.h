// Enhanced-alignment measure E (Fan et al., IJCAI 2018) as PySODMetrics
// v1.4.3's Emeasure: at the adaptive threshold min(2 * mean, 1) and at the 256
// levels floor(pred * 255) >= t (maxE / meanE of a set of images are the max /
// mean of the image-averaged curve). The sum of the enhanced alignment matrix
// is divided by (pixels - 1), so a perfect map scores pixels / (pixels - 1).
//
// ThresholdComparison::Greater reproduces the MATLAB CoSOD3k toolbox, which
// binarises with pred > k / 255 (and pred > adaptive threshold) instead.
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

enum class ThresholdComparison { GreaterEqual, Greater };

struct EMeasure {
  double adaptive = 0.0;
  Curve curve{};  // index t = threshold level t (ascending)
};

EMeasure e_measure(const PreparedPair& pair,
                   ThresholdComparison comparison = ThresholdComparison::GreaterEqual);

}  // namespace cosal::metrics
