// DAVIS's boundary F-measure (Perazzi et al., CVPR 2016; davis/measures/
// f_boundary.py, db_eval_boundary): how well the prediction's contour follows
// the ground truth's, with a tolerance of a few pixels.
//
// Both masks are binarised (prediction: raw 8-bit value >= 128, as IoU / J;
// ground truth > 128) and reduced to one-pixel boundaries by DAVIS's seg2bmap.
// A boundary pixel of one mask matches when a boundary pixel of the other lies
// within the disk of radius ceil(0.008 * image diagonal) around it
// (skimage.morphology.disk: dx^2 + dy^2 <= r^2; 8 pixels at 854x480).
// Precision = matched prediction boundary / prediction boundary, recall =
// matched ground-truth boundary / ground-truth boundary, F = 2PR / (P + R).
//
// Empty boundaries follow db_eval_boundary: none predicted but some there
// gives P = 1, R = 0; some predicted but none there P = 0, R = 1; neither
// P = R = 1 (so F = 1). A mask filling the whole image has no boundary: the
// image's edge is not a contour.
#pragma once

#include <cstdint>
#include <vector>

#include "prepared_pair.h"

namespace cosal::metrics {

// db_eval_boundary's bound_th: the tolerance as a fraction of the diagonal.
constexpr double kBoundaryTolerance = 0.008;

struct BoundaryF {
  double precision = 1, recall = 1, f = 1;
  int64_t pred_boundary = 0, gt_boundary = 0;  // boundary pixels of each mask
  int64_t pred_matched = 0, gt_matched = 0;    // of those, the ones matched
};

// ceil(kBoundaryTolerance * sqrt(width^2 + height^2)), DAVIS's bound_pix.
int boundary_tolerance(int width, int height);

// DAVIS's seg2bmap at the mask's own size: pixel (x, y) is on the boundary if
// it differs from its east, south or south-east neighbour; on the last row
// only the east one counts, on the last column only the south one, and the
// bottom-right pixel never is. mask: non-zero = foreground, row-major. Writes
// 0 / 1 into `out` (resized to width * height).
void boundary_map(const uint8_t* mask, int width, int height, std::vector<uint8_t>& out);

// The measure on binary masks (non-zero = foreground) with a tolerance of
// `radius` pixels.
BoundaryF boundary_f(const uint8_t* pred_mask, const uint8_t* gt_mask, int width, int height,
                     int radius);

// The measure as DAVIS computes it: the pair's raw prediction >= 128 against
// its ground truth, tolerance boundary_tolerance(width, height).
BoundaryF boundary_f(const PreparedPair& pair);

}  // namespace cosal::metrics
