#include "f_measure.h"

#include <algorithm>

namespace cosal::metrics {

FMeasure f_measure(const PreparedPair& p, double beta2) {
  FMeasure r;
  const double thr = adaptive_threshold(p);
  int64_t inter = 0, predicted = 0;
  for (int v = 0; v < 256; ++v) {
    if (p.value[v] >= thr) {
      inter += p.fg_hist[v];
      predicted += p.fg_hist[v] + p.bg_hist[v];
    }
  }
  if (inter != 0) {
    const double pre = static_cast<double>(inter) / static_cast<double>(predicted);
    const double rec = static_cast<double>(inter) / static_cast<double>(p.fg_count);
    r.adaptive = (1 + beta2) * pre * rec / (beta2 * pre + rec);
  }

  const ThresholdCounts c = threshold_counts(p, p.level);
  const double positives = static_cast<double>(std::max<int64_t>(p.fg_count, 1));
  for (int t = 0; t < kLevels; ++t) {
    const double tp = static_cast<double>(c.fg[t]);
    int64_t ps = c.fg[t] + c.bg[t];
    if (ps == 0) ps = 1;  // then tp is 0 too: precision 0, not 0 / 0
    const double pre = tp / static_cast<double>(ps);
    const double rec = tp / positives;
    const double num = (1 + beta2) * pre * rec;
    const double den = num == 0 ? 1.0 : beta2 * pre + rec;
    r.precision[t] = pre;
    r.recall[t] = rec;
    r.f[t] = num / den;
  }
  return r;
}

double curve_max(const Curve& c) { return *std::max_element(c.begin(), c.end()); }

double curve_mean(const Curve& c) {
  double s = 0.0;
  for (double v : c) s += v;
  return s / static_cast<double>(c.size());
}

}  // namespace cosal::metrics
