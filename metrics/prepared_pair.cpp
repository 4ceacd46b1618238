#include "prepared_pair.h"

#include <algorithm>
#include <limits>

namespace cosal::metrics {

namespace {
void check_single_channel(const Image& img, const char* what) {
  if (img.channels != 1)
    throw MetricError(std::string(what) + " must have 1 channel, got " +
                      std::to_string(img.channels));
  if (img.empty() || img.width <= 0 || img.height <= 0)
    throw MetricError(std::string(what) + " is empty");
  if (img.pixels.size() != static_cast<size_t>(img.width) * img.height)
    throw MetricError(std::string(what) + " pixel buffer does not match its size");
}
}  // namespace

PreparedPair prepare(const Image& pred, const Image& gt) {
  check_single_channel(pred, "prediction");
  check_single_channel(gt, "ground truth");
  if (pred.width != gt.width || pred.height != gt.height)
    throw MetricError("size mismatch: prediction is " + std::to_string(pred.width) + "x" +
                      std::to_string(pred.height) + ", ground truth is " +
                      std::to_string(gt.width) + "x" + std::to_string(gt.height));
  return prepare(pred.pixels.data(), gt.pixels.data(), pred.width, pred.height);
}

PreparedPair prepare(const uint8_t* pred, const uint8_t* gt, int width, int height) {
  if (width <= 0 || height <= 0) throw MetricError("empty maps");
  PreparedPair p;
  p.width = width;
  p.height = height;
  const size_t n = static_cast<size_t>(width) * height;
  p.raw.assign(pred, pred + n);
  p.gt.resize(n);
  for (int y = 0; y < height; ++y) {
    const size_t row = static_cast<size_t>(y) * width;
    int64_t row_fg = 0;
    for (int x = 0; x < width; ++x) {
      const uint8_t g = gt[row + x] > 128 ? 1 : 0;
      p.gt[row + x] = g;
      if (g) {
        ++p.fg_hist[pred[row + x]];
        ++row_fg;
        p.fg_col_sum += x;
      } else {
        ++p.bg_hist[pred[row + x]];
      }
    }
    p.fg_count += row_fg;
    p.fg_row_sum += row_fg * y;
  }
  int lo = 255, hi = 0;
  for (int v = 0; v < 256; ++v) {
    if (p.fg_hist[v] + p.bg_hist[v] == 0) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // The same operations, in the same order, as prepare_data: pred / 255,
  // then (pred - min) / (max - min) on the divided values.
  const double mn = lo / 255.0;
  const double mx = hi / 255.0;
  for (int v = 0; v < 256; ++v) {
    double x = v / 255.0;
    if (mx != mn) x = (x - mn) / (mx - mn);
    p.value[v] = x;
    // numpy's astype(uint8) truncates; x is in [0, 1] for every value present.
    const double scaled = x * 255.0;
    p.level[v] = scaled <= 0.0 ? 0 : std::min(255, static_cast<int>(scaled));
  }
  return p;
}

double PreparedPair::pred_mean() const {
  std::array<int64_t, 256> all{};
  for (int v = 0; v < 256; ++v) all[v] = fg_hist[v] + bg_hist[v];
  return moments(all, value).mean;
}

Moments moments(const std::array<int64_t, 256>& counts, const std::array<double, 256>& values) {
  Moments m;
  int occupied = 0, last = 0;
  double sum = 0.0;
  for (int v = 0; v < 256; ++v) {
    if (!counts[v]) continue;
    m.n += counts[v];
    sum += static_cast<double>(counts[v]) * values[v];
    ++occupied;
    last = v;
  }
  if (m.n == 0) {
    // numpy's mean of an empty array is NaN; S-measure relies on that.
    m.mean = m.ssd = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  if (occupied == 1) {
    m.mean = values[last];
    return m;
  }
  m.mean = sum / static_cast<double>(m.n);
  for (int v = 0; v < 256; ++v) {
    if (!counts[v]) continue;
    const double d = values[v] - m.mean;
    m.ssd += static_cast<double>(counts[v]) * d * d;
  }
  return m;
}

}  // namespace cosal::metrics

namespace cosal::metrics {

ThresholdCounts threshold_counts(const PreparedPair& pair, const std::array<int, 256>& level_of) {
  ThresholdCounts c;
  for (int v = 0; v < 256; ++v) {
    const int l = level_of[v];
    if (l < 0) continue;
    c.fg[l] += pair.fg_hist[v];
    c.bg[l] += pair.bg_hist[v];
  }
  for (int t = kLevels - 2; t >= 0; --t) {
    c.fg[t] += c.fg[t + 1];
    c.bg[t] += c.bg[t + 1];
  }
  return c;
}

double adaptive_threshold(const PreparedPair& pair) { return std::min(2 * pair.pred_mean(), 1.0); }

}  // namespace cosal::metrics
