#include "e_measure.h"

namespace cosal::metrics {

namespace {

// E for one binarisation, from its pixel counts (PySODMetrics'
// cal_em_with_threshold and generate_parts_numel_combinations).
double em_from_counts(int64_t fg_fg, int64_t fg_bg, int64_t gt_fg, int64_t size) {
  const int64_t pred_fg = fg_fg + fg_bg;
  const int64_t pred_bg = size - pred_fg;
  double sum;
  if (gt_fg == 0) {
    sum = static_cast<double>(pred_bg);
  } else if (gt_fg == size) {
    sum = static_cast<double>(pred_fg);
  } else {
    const int64_t bg_fg = gt_fg - fg_fg;
    const int64_t bg_bg = pred_bg - bg_fg;
    const double mean_pred = static_cast<double>(pred_fg) / static_cast<double>(size);
    const double mean_gt = static_cast<double>(gt_fg) / static_cast<double>(size);
    const double pf = 1 - mean_pred, pb = 0 - mean_pred;
    const double gf = 1 - mean_gt, gb = 0 - mean_gt;
    const int64_t parts[4] = {fg_fg, fg_bg, bg_fg, bg_bg};
    const double a[4] = {pf, pf, pb, pb};
    const double b[4] = {gf, gb, gf, gb};
    sum = 0.0;
    for (int i = 0; i < 4; ++i) {
      const double align = 2 * (a[i] * b[i]) / (a[i] * a[i] + b[i] * b[i] + kEps);
      const double enhanced = (align + 1) * (align + 1) / 4;
      sum += enhanced * static_cast<double>(parts[i]);
    }
  }
  return sum / (static_cast<double>(size) - 1 + kEps);
}

}  // namespace

EMeasure e_measure(const PreparedPair& p, ThresholdComparison comparison) {
  EMeasure r;
  const int64_t size = static_cast<int64_t>(p.size());
  const bool strict = comparison == ThresholdComparison::Greater;

  const double thr = adaptive_threshold(p);
  int64_t fg_fg = 0, fg_bg = 0;
  for (int v = 0; v < 256; ++v) {
    if (strict ? p.value[v] > thr : p.value[v] >= thr) {
      fg_fg += p.fg_hist[v];
      fg_bg += p.bg_hist[v];
    }
  }
  r.adaptive = em_from_counts(fg_fg, fg_bg, p.fg_count, size);

  std::array<int, 256> level = p.level;
  if (strict) {
    // Highest k with k / 255 < pred, found exactly (no rounding of pred * 255).
    for (int v = 0; v < 256; ++v) {
      int k = -1;
      while (k + 1 < kLevels && (k + 1) / 255.0 < p.value[v]) ++k;
      level[v] = k;
    }
  }
  const ThresholdCounts c = threshold_counts(p, level);
  for (int t = 0; t < kLevels; ++t) r.curve[t] = em_from_counts(c.fg[t], c.bg[t], p.fg_count, size);
  return r;
}

}  // namespace cosal::metrics
