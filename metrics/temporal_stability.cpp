#include "temporal_stability.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace cosal::metrics {

FrameChange frame_change(const std::vector<uint8_t>& previous_raw, const PreparedPair& current) {
  if (previous_raw.size() != current.size())
    throw MetricError("temporal stability: consecutive predictions differ in size");
  int64_t in_sum = 0, out_sum = 0;
  for (size_t i = 0; i < current.size(); ++i) {
    const int d = std::abs(static_cast<int>(current.raw[i]) - previous_raw[i]);
    if (current.gt[i])
      in_sum += d;
    else
      out_sum += d;
  }
  const int64_t in_n = current.fg_count;
  const int64_t out_n = static_cast<int64_t>(current.size()) - in_n;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  FrameChange c;
  c.inside = in_n ? static_cast<double>(in_sum) / 255.0 / static_cast<double>(in_n) : nan;
  c.outside = out_n ? static_cast<double>(out_sum) / 255.0 / static_cast<double>(out_n) : nan;
  return c;
}

void TemporalStability::add(const FrameChange& change) {
  ++pairs_;
  if (!std::isnan(change.inside)) {
    inside_sum_ += change.inside;
    ++inside_n_;
  }
  if (!std::isnan(change.outside)) {
    outside_sum_ += change.outside;
    ++outside_n_;
  }
}

double TemporalStability::inside() const {
  return inside_n_ ? inside_sum_ / static_cast<double>(inside_n_)
                   : std::numeric_limits<double>::quiet_NaN();
}

double TemporalStability::outside() const {
  return outside_n_ ? outside_sum_ / static_cast<double>(outside_n_)
                    : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace cosal::metrics
