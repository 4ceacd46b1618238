// Intersection over union (Jaccard index J) of the 8-bit prediction
// thresholded at 128 (raw value >= 128, no min-max normalisation, so a faint
// map stays faint) against the ground truth (> 128).
//
// Both empty (nothing predicted, nothing there) counts as 1, as DAVIS's
// db_eval_iou does: the prediction agrees with the ground truth perfectly.
#pragma once

#include "prepared_pair.h"

namespace cosal::metrics {

constexpr int kIouThreshold = 128;

double iou(const PreparedPair& pair);

}  // namespace cosal::metrics
