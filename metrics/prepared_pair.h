// A prediction / ground-truth pair in the form every saliency metric reads,
// following PySODMetrics v1.4.3 (py_sod_metrics/utils.py, prepare_data):
// the ground truth is binarised at > 128 and the prediction is scaled to
// [0, 1] (v / 255) and min-max normalised per image; a constant map is left
// as v / 255.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "image.h"

namespace cosal::metrics {

// Number of integer threshold levels of floor(pred * 255).
constexpr int kLevels = 256;
// numpy.spacing(1), the epsilon PySODMetrics adds to denominators.
constexpr double kEps = 2.220446049250313e-16;

using Curve = std::array<double, kLevels>;

class MetricError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PreparedPair {
  int width = 0;
  int height = 0;
  // The 8-bit prediction as given (IoU and temporal stability read it raw).
  std::vector<uint8_t> raw;
  // 1 where the ground truth is foreground (> 128), else 0.
  std::vector<uint8_t> gt;
  // The normalised prediction of each raw value: pred(i) = value[raw[i]].
  // Every metric is a function of the 256 raw values, so a table is exact.
  std::array<double, 256> value{};
  // floor(value * 255), the threshold level PySODMetrics bins by.
  std::array<int, 256> level{};
  // How many pixels of each raw value lie inside / outside the ground truth.
  std::array<int64_t, 256> fg_hist{};
  std::array<int64_t, 256> bg_hist{};
  int64_t fg_count = 0;
  // Sums of the 0-based row / column indices of the foreground pixels.
  int64_t fg_row_sum = 0;
  int64_t fg_col_sum = 0;

  size_t size() const { return raw.size(); }
  double pred(size_t i) const { return value[raw[i]]; }
  // Mean of the normalised prediction over the whole image.
  double pred_mean() const;
};

// Both maps are single-channel 8-bit of the same size; anything else throws
// MetricError (the caller resizes, metrics never do).
PreparedPair prepare(const Image& pred, const Image& gt);
PreparedPair prepare(const uint8_t* pred, const uint8_t* gt, int width, int height);

// Mean and sum of squared deviations of a histogram-weighted set of values.
// A single occupied bin gives its value and 0 exactly (summing N copies of a
// value in floating point need not give it back, which would turn a constant
// region into a slightly varying one).
struct Moments {
  int64_t n = 0;
  double mean = 0.0;
  double ssd = 0.0;
};
Moments moments(const std::array<int64_t, 256>& counts, const std::array<double, 256>& values);

}  // namespace cosal::metrics

namespace cosal::metrics {

// For each threshold level t (index t, ascending; PySODMetrics stores the same
// numbers from t = 255 down to 0): how many pixels inside / outside the ground
// truth have a level >= t. level_of maps each raw value to its level; -1 means
// "below every threshold".
struct ThresholdCounts {
  std::array<int64_t, kLevels> fg{};
  std::array<int64_t, kLevels> bg{};
};
ThresholdCounts threshold_counts(const PreparedPair& pair, const std::array<int, 256>& level_of);

// PySODMetrics' adaptive threshold: min(2 * mean(pred), 1).
double adaptive_threshold(const PreparedPair& pair);

}  // namespace cosal::metrics
