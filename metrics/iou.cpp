#include "iou.h"

namespace cosal::metrics {

double iou(const PreparedPair& pair) {
  int64_t inter = 0, pred_fg = 0;
  for (int v = kIouThreshold; v < 256; ++v) {
    inter += pair.fg_hist[v];
    pred_fg += pair.fg_hist[v] + pair.bg_hist[v];
  }
  const int64_t uni = pred_fg + pair.fg_count - inter;
  if (uni == 0) return 1.0;
  return static_cast<double>(inter) / static_cast<double>(uni);
}

}  // namespace cosal::metrics
