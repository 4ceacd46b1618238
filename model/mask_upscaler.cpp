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
  wide_.assign(static_cast<size_t>(src_h_) * dst_w_, 0.f);
}

void MaskUpscaler::run(const float* src, uint8_t* dst, int pixel_stride, int row_stride,
                       int threshold) {
  const size_t dw = static_cast<size_t>(dst_w_);
  for (int y = 0; y < src_h_; ++y) {
    const float* s = src + static_cast<size_t>(y) * src_w_;
    float* w = wide_.data() + y * dw;
    for (size_t x = 0; x < dw; ++x) {
      const Tap& t = xs_[x];
      w[x] = s[t.i0] + t.w * (s[t.i1] - s[t.i0]);
    }
  }
  const float cut = static_cast<float>(threshold);
  for (int y = 0; y < dst_h_; ++y) {
    const Tap& t = ys_[static_cast<size_t>(y)];
    const float* r0 = wide_.data() + static_cast<size_t>(t.i0) * dw;
    const float* r1 = wide_.data() + static_cast<size_t>(t.i1) * dw;
    const float wy = t.w;
    uint8_t* out = dst + static_cast<ptrdiff_t>(y) * row_stride;
    // Clamped before the cast: the decoder's sigmoid is in [0, 1], but NaN or
    // out-of-range values from a broken model must not wrap around.
    // round(255 m) >= t  <=>  255 m + 0.5 >= t for integer t.
    if (threshold <= 0) {
      for (size_t x = 0; x < dw; ++x) {
        const float v = (r0[x] + wy * (r1[x] - r0[x])) * 255.f + 0.5f;
        out[static_cast<ptrdiff_t>(x) * pixel_stride] =
            static_cast<uint8_t>(std::min(255.f, std::max(0.f, v)));  // NaN -> 0
      }
    } else {
      for (size_t x = 0; x < dw; ++x) {
        const float v = (r0[x] + wy * (r1[x] - r0[x])) * 255.f + 0.5f;
        out[static_cast<ptrdiff_t>(x) * pixel_stride] = v >= cut ? 255 : 0;
      }
    }
  }
}

}  // namespace cosal
