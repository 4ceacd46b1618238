#include "guided_upsampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace cosal {

std::vector<GuidedUpsampler::Span> GuidedUpsampler::spans(int src, int dst) {
  std::vector<Span> s(static_cast<size_t>(std::max(dst, 0)));
  for (int i = 0; i < dst; ++i) {
    // Source pixels whose index falls in [i, i + 1) * src / dst; at least
    // the nearest one when the frame is smaller than the grid.
    const int b = static_cast<int>(static_cast<int64_t>(i) * src / dst);
    const int e = static_cast<int>(static_cast<int64_t>(i + 1) * src / dst);
    s[static_cast<size_t>(i)] = Span{std::min(b, src - 1), std::max(e, std::min(b, src - 1) + 1)};
  }
  return s;
}

void GuidedUpsampler::set_params(int radius, float eps) {
  eps_ = eps > 0.f ? eps : kDefaultEps;
  radius = std::max(radius, 0);
  if (radius == radius_) return;  // called per frame: only a new radius costs
  radius_ = radius;
  if (src_w_ > 0 && src_h_ > 0 && dst_w_ > 0 && dst_h_ > 0) compute_window_widths();
}

void GuidedUpsampler::compute_window_widths() {
  auto inv_widths = [this](int n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      v[static_cast<size_t>(i)] =
          1.f / static_cast<float>(std::min(i + radius_, n - 1) - std::max(i - radius_, 0) + 1);
    return v;
  };
  inv_nx_ = inv_widths(src_w_);
  inv_ny_ = inv_widths(src_h_);
}

void GuidedUpsampler::configure(int src_width, int src_height, int dst_width, int dst_height) {
  if (src_width == src_w_ && src_height == src_h_ && dst_width == dst_w_ && dst_height == dst_h_)
    return;
  src_w_ = src_width;
  src_h_ = src_height;
  dst_w_ = dst_width;
  dst_h_ = dst_height;
  if (src_w_ <= 0 || src_h_ <= 0 || dst_w_ <= 0 || dst_h_ <= 0) return;
  gx_ = spans(dst_w_, src_w_);
  gy_ = spans(dst_h_, src_h_);
  xs_ = MaskUpscaler::taps(src_w_, dst_w_);
  ys_ = MaskUpscaler::taps(src_h_, dst_h_);
  compute_window_widths();
  col_sum_.assign(static_cast<size_t>(dst_w_), 0);
  const size_t n = static_cast<size_t>(src_w_) * src_h_;
  for (auto& p : small_) p.assign(n, 0.f);
  rows_.assign(n, 0.f);
  acc_.assign(static_cast<size_t>(src_w_), 0.0);
  wide_a_.assign(static_cast<size_t>(src_h_) * dst_w_, 0.f);
  wide_b_.assign(static_cast<size_t>(src_h_) * dst_w_, 0.f);
}

void GuidedUpsampler::area_average(const LumaView& g) {
  float* out = small_[kI].data();
  for (int gy = 0; gy < src_h_; ++gy) {
    const Span sy = gy_[static_cast<size_t>(gy)];
    std::fill(col_sum_.begin(), col_sum_.end(), 0u);
    for (int y = sy.begin; y < sy.end; ++y) {
      const uint8_t* row = g.data + static_cast<ptrdiff_t>(y) * g.stride;
      for (int x = 0; x < dst_w_; ++x) col_sum_[static_cast<size_t>(x)] += row[x];
    }
    for (int gx = 0; gx < src_w_; ++gx) {
      const Span sx = gx_[static_cast<size_t>(gx)];
      uint32_t s = 0;
      for (int x = sx.begin; x < sx.end; ++x) s += col_sum_[static_cast<size_t>(x)];
      // Luma in [0, 1], so eps means the same for every guide.
      out[static_cast<size_t>(gy) * src_w_ + gx] =
          static_cast<float>(s) /
          (255.f * static_cast<float>((sx.end - sx.begin) * (sy.end - sy.begin)));
    }
  }
}

void GuidedUpsampler::box(const float* in, float* out) {
  const int w = src_w_, h = src_h_, r = radius_;
  const size_t sw = static_cast<size_t>(w);
  // Running sums in double: adding and removing for the whole row or column
  // must not leave float residue, which var(I) - a difference of near-equal
  // means - would see on a flat guide.
  for (int y = 0; y < h; ++y) {
    const float* s = in + y * sw;
    float* d = rows_.data() + y * sw;
    double acc = 0.0;
    for (int x = 0; x <= std::min(r, w - 1); ++x) acc += s[x];
    for (int x = 0; x < w; ++x) {
      d[x] = static_cast<float>(acc) * inv_nx_[static_cast<size_t>(x)];
      if (x + r + 1 < w) acc += s[x + r + 1];
      if (x - r >= 0) acc -= s[x - r];
    }
  }
  std::fill(acc_.begin(), acc_.end(), 0.0);
  for (int y = 0; y <= std::min(r, h - 1); ++y) {
    const float* s = rows_.data() + y * sw;
    for (size_t x = 0; x < sw; ++x) acc_[x] += s[x];
  }
  for (int y = 0; y < h; ++y) {
    float* d = out + y * sw;
    const float ny = inv_ny_[static_cast<size_t>(y)];
    for (size_t x = 0; x < sw; ++x) d[x] = static_cast<float>(acc_[x]) * ny;
    if (y + r + 1 < h) {
      const float* s = rows_.data() + (y + r + 1) * sw;
      for (size_t x = 0; x < sw; ++x) acc_[x] += s[x];
    }
    if (y - r >= 0) {
      const float* s = rows_.data() + (y - r) * sw;
      for (size_t x = 0; x < sw; ++x) acc_[x] -= s[x];
    }
  }
}

void GuidedUpsampler::run(const float* src, const LumaView& guide, uint8_t* dst, int pixel_stride,
                          int row_stride, int threshold) {
  if (src_w_ <= 0 || src_h_ <= 0 || dst_w_ <= 0 || dst_h_ <= 0) return;
  const size_t n = static_cast<size_t>(src_w_) * src_h_;
  area_average(guide);
  float* I = small_[kI].data();
  float* P = small_[kP].data();
  float* Ip = small_[kIp].data();
  float* II = small_[kII].data();
  for (size_t i = 0; i < n; ++i) {
    P[i] = src[i];
    Ip[i] = I[i] * src[i];
    II[i] = I[i] * I[i];
  }
  float* mI = small_[kMeanI].data();
  float* mP = small_[kMeanP].data();
  float* mIp = small_[kMeanIp].data();
  float* mII = small_[kMeanII].data();
  box(I, mI);
  box(P, mP);
  box(Ip, mIp);
  box(II, mII);
  // a into I's plane, b into P's, then their window means into mIp and mII.
  for (size_t i = 0; i < n; ++i) {
    const float var = std::max(mII[i] - mI[i] * mI[i], 0.f);
    const float a = (mIp[i] - mI[i] * mP[i]) / (var + eps_);
    I[i] = a;
    P[i] = mP[i] - a * mI[i];
  }
  box(I, mIp);
  box(P, mII);
  const float* A = mIp;
  const float* B = mII;

  // Separable bilinear resampling of a and b as in MaskUpscaler; a is
  // pre-scaled so the full-resolution pass multiplies 8-bit luma directly.
  const size_t dw = static_cast<size_t>(dst_w_);
  for (int y = 0; y < src_h_; ++y) {
    const float* ra = A + static_cast<size_t>(y) * src_w_;
    const float* rb = B + static_cast<size_t>(y) * src_w_;
    float* wa = wide_a_.data() + y * dw;
    float* wb = wide_b_.data() + y * dw;
    for (size_t x = 0; x < dw; ++x) {
      const MaskUpscaler::Tap& t = xs_[x];
      wa[x] = (ra[t.i0] + t.w * (ra[t.i1] - ra[t.i0])) * (1.f / 255.f);
      wb[x] = rb[t.i0] + t.w * (rb[t.i1] - rb[t.i0]);
    }
  }
  const float cut = static_cast<float>(threshold);
  for (int y = 0; y < dst_h_; ++y) {
    const MaskUpscaler::Tap& t = ys_[static_cast<size_t>(y)];
    const float* a0 = wide_a_.data() + static_cast<size_t>(t.i0) * dw;
    const float* a1 = wide_a_.data() + static_cast<size_t>(t.i1) * dw;
    const float* b0 = wide_b_.data() + static_cast<size_t>(t.i0) * dw;
    const float* b1 = wide_b_.data() + static_cast<size_t>(t.i1) * dw;
    const float wy = t.w;
    const uint8_t* g = guide.data + static_cast<ptrdiff_t>(y) * guide.stride;
    uint8_t* out = dst + static_cast<ptrdiff_t>(y) * row_stride;
    // Written as MaskUpscaler::run writes: clamped before the cast (NaN -> 0),
    // round(255 q) >= t  <=>  255 q + 0.5 >= t.
    if (threshold <= 0) {
      for (size_t x = 0; x < dw; ++x) {
        const float a = a0[x] + wy * (a1[x] - a0[x]);
        const float b = b0[x] + wy * (b1[x] - b0[x]);
        const float v = (a * static_cast<float>(g[x]) + b) * 255.f + 0.5f;
        out[static_cast<ptrdiff_t>(x) * pixel_stride] =
            static_cast<uint8_t>(std::min(255.f, std::max(0.f, v)));
      }
    } else {
      for (size_t x = 0; x < dw; ++x) {
        const float a = a0[x] + wy * (a1[x] - a0[x]);
        const float b = b0[x] + wy * (b1[x] - b0[x]);
        const float v = (a * static_cast<float>(g[x]) + b) * 255.f + 0.5f;
        out[static_cast<ptrdiff_t>(x) * pixel_stride] = v >= cut ? 255 : 0;
      }
    }
  }
}

}  // namespace cosal
