// Structure measure S (Fan et al., ICCV 2017) exactly as PySODMetrics v1.4.3
// computes it: S = alpha * S_object + (1 - alpha) * S_region, clipped at 0.
//
// The region term splits both maps at the ground-truth centroid. PySODMetrics
// rounds the 0-based mean row / column half-to-even (numpy.round) and adds 1;
// the MATLAB toolbox rounds the 1-based mean half away from zero, which moves
// the split by one pixel when the mean ends in .5 (CentroidRounding::Matlab
// reproduces that). Like the reference, an empty quadrant (centroid on the last
// row or column) or a one-pixel quadrant / object makes a statistic undefined
// (NaN) and the score 0.
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

enum class CentroidRounding { PySodMetrics, Matlab };

struct SMeasureOptions {
  double alpha = 0.5;
  CentroidRounding centroid = CentroidRounding::PySodMetrics;
};

double s_measure(const PreparedPair& pair, const SMeasureOptions& options = {});

}  // namespace cosal::metrics
