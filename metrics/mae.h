// Mean absolute error between the normalised prediction and the binary
// ground truth (Perazzi et al., CVPR 2012; PySODMetrics MAE).
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

double mae(const PreparedPair& pair);

}  // namespace cosal::metrics
