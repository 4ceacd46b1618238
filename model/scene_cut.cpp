#include "scene_cut.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace cosal {

double SceneCut::observe(const uint8_t* rgb, int width, int height, int stride) {
  // Box average of each thumbnail cell, sampled on a sparse grid: a cut
  // changes most of the picture, so a few hundred samples per cell suffice.
  for (int ty = 0; ty < kSide; ++ty) {
    const int y0 = ty * height / kSide, y1 = std::max(y0 + 1, (ty + 1) * height / kSide);
    const int ystep = std::max(1, (y1 - y0) / 8);
    for (int tx = 0; tx < kSide; ++tx) {
      const int x0 = tx * width / kSide, x1 = std::max(x0 + 1, (tx + 1) * width / kSide);
      const int xstep = std::max(1, (x1 - x0) / 8);
      float sum = 0.f;
      int n = 0;
      for (int y = y0; y < y1 && y < height; y += ystep) {
        const uint8_t* p = rgb + static_cast<ptrdiff_t>(y) * stride;
        for (int x = x0; x < x1 && x < width; x += xstep) {
          const uint8_t* q = p + 3 * x;
          sum += 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
          ++n;
        }
      }
      current_[static_cast<size_t>(ty * kSide + tx)] = n ? sum / n : 0.f;
    }
  }
  double diff = 0.0;
  if (have_previous_) {
    for (size_t i = 0; i < current_.size(); ++i) diff += std::fabs(current_[i] - previous_[i]);
    diff /= current_.size() * 255.0;
  }
  previous_ = current_;
  have_previous_ = true;
  return diff;
}

}  // namespace cosal
