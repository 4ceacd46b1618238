#include "mask_upscaler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace cosal {

std::vector<MaskUpscaler::Tap> MaskUpscaler::taps(int src, int dst) {
  std::vector<Tap> t(static_cast<size_t>(std::max(dst, 0)));
  const double scale = static_cast<double>(src) / dst;
  for (int i = 0; i < dst; ++i) {
    double s = (i + 0.5) * scale - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(src - 1));
    const int i0 = static_cast<int>(std::floor(s));
    const int i1 = std::min(i0 + 1, src - 1);
    t[static_cast<size_t>(i)] = Tap{i0, i1, static_cast<float>(s - i0)};
  }
  return t;
}

void MaskUpscaler::configure(int src_width, int src_height, int dst_width, int dst_height) {
  if (src_width == src_w_ && src_height == src_h_ && dst_width == dst_w_ && dst_height == dst_h_)
    return;
  src_w_ = src_width;
  src_h_ = src_height;
  dst_w_ = dst_width;
  dst_h_ = dst_height;
  xs_ = taps(src_w_, dst_w_);
  ys_ = taps(src_h_, dst_h_);
  row_.assign(static_cast<size_t>(src_w_), 0.f);
}

void MaskUpscaler::run(const float* src, uint8_t* dst, int pixel_stride, int row_stride,
                       int threshold) {
  for (int v = 0; v < 256; ++v)
    lut_[v] = threshold <= 0 ? static_cast<uint8_t>(v) : (v >= threshold ? 255 : 0);
  float* row = row_.data();
  for (int y = 0; y < dst_h_; ++y) {
    const Tap& ty = ys_[static_cast<size_t>(y)];
    const float* r0 = src + static_cast<size_t>(ty.i0) * src_w_;
    const float* r1 = src + static_cast<size_t>(ty.i1) * src_w_;
    for (int i = 0; i < src_w_; ++i) row[i] = r0[i] + ty.w * (r1[i] - r0[i]);
    uint8_t* out = dst + static_cast<ptrdiff_t>(y) * row_stride;
    for (int x = 0; x < dst_w_; ++x) {
      const Tap& tx = xs_[static_cast<size_t>(x)];
      const float m = row[tx.i0] + tx.w * (row[tx.i1] - row[tx.i0]);
      // Clamp before the cast: the decoder's sigmoid is in [0, 1], but NaN or
      // out-of-range values from a broken model must not wrap around.
      const float s = std::clamp(m * 255.f + 0.5f, 0.f, 255.f);
      out[static_cast<ptrdiff_t>(x) * pixel_stride] = lut_[static_cast<int>(s)];
    }
  }
}

}  // namespace cosal
