#include "synthetic_frames.h"

#include <algorithm>
#include <cmath>

namespace cosal::bench {

std::vector<uint8_t> synthetic_rgb(int width, int height, int index) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  const double r = 0.2 * std::min(width, height);
  const double cx = width * (0.3 + 0.02 * (index % 20));
  const double cy = height * (0.5 + 0.1 * std::sin(0.3 * index));
  uint32_t noise = 2463534242u + static_cast<uint32_t>(index);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = rgb.data() + static_cast<size_t>(y) * width * 3;
    for (int x = 0; x < width; ++x) {
      noise ^= noise << 13;  // xorshift32: texture without a pattern
      noise ^= noise >> 17;
      noise ^= noise << 5;
      const int n = static_cast<int>(noise & 31);
      const bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
      row[3 * x + 0] = static_cast<uint8_t>(inside ? 230 - n : 40 + (x * 120) / width + n);
      row[3 * x + 1] = static_cast<uint8_t>(inside ? 180 - n : 60 + (y * 100) / height + n);
      row[3 * x + 2] = static_cast<uint8_t>(inside ? 40 + n : 90 + n);
    }
  }
  return rgb;
}

}  // namespace cosal::bench
