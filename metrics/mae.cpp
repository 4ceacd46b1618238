#include "mae.h"

#include <cmath>

namespace cosal::metrics {

double mae(const PreparedPair& pair) {
  // |pred - gt| depends only on the raw value and the gt bit: sum by histogram.
  double sum = 0.0;
  for (int v = 0; v < 256; ++v) {
    sum += static_cast<double>(pair.fg_hist[v]) * std::fabs(pair.value[v] - 1.0);
    sum += static_cast<double>(pair.bg_hist[v]) * pair.value[v];
  }
  return sum / static_cast<double>(pair.size());
}

}  // namespace cosal::metrics
