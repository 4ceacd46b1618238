// Temporal stability of a predicted video mask: the mean absolute change of
// the prediction (raw 8-bit value / 255, not min-max normalised, which would
// itself add flicker) between consecutive frames, measured separately inside
// and outside the ground-truth object of the later frame. Lower is steadier;
// change inside follows the object's own motion, change outside is flicker of
// the background.
#pragma once

#include <cstdint>
#include <vector>

#include "prepared_pair.h"

namespace cosal::metrics {

struct FrameChange {
  // NaN where the later frame has no pixel inside / outside the object.
  double inside = 0.0;
  double outside = 0.0;
};

// previous_raw: the previous frame's 8-bit prediction, same size as current.
FrameChange frame_change(const std::vector<uint8_t>& previous_raw, const PreparedPair& current);

// Mean over frame pairs of each pair's inside / outside change.
class TemporalStability {
 public:
  void add(const FrameChange& change);
  int64_t pairs() const { return pairs_; }
  int64_t inside_pairs() const { return inside_n_; }
  int64_t outside_pairs() const { return outside_n_; }
  // NaN when no pair had pixels in that region.
  double inside() const;
  double outside() const;

 private:
  int64_t pairs_ = 0, inside_n_ = 0, outside_n_ = 0;
  double inside_sum_ = 0.0, outside_sum_ = 0.0;
};

}  // namespace cosal::metrics
