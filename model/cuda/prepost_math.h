// The per-pixel arithmetic of prepost.h, shared by the CPU reference
// (prepost_reference.cpp) and the CUDA kernels (prepost_kernels.cu, compiled
// with -fmad=false so that no multiply-add is fused): both run literally the
// same code, so their outputs agree bit for bit. Internal to model/cuda/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "prepost.h"

#if defined(__CUDACC__)
#define COSAL_HD __host__ __device__ inline
#else
#define COSAL_HD inline
#endif

namespace cosal::prepost::detail {

struct Tap {
  int i0, i1;
  float w;  // weight of i1
};

template <typename T>
COSAL_HD T clamp_value(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Source position of sample `part` of `parts` of destination index i
// (scale = src / dst), clamped to the source, as the two neighbours and the
// weight of the second. parts = 1 is the plain centre-aligned bilinear.
COSAL_HD Tap tap(int i, int part, int parts, double scale, int src) {
  double s = (i + (part + 0.5) / parts) * scale - 0.5;
  s = clamp_value(s, 0.0, static_cast<double>(src - 1));
  const int i0 = static_cast<int>(s);  // s >= 0: truncation is floor
  const int i1 = i0 + 1 < src ? i0 + 1 : src - 1;
  return Tap{i0, i1, static_cast<float>(s - i0)};
}

COSAL_HD int samples_for(int src, int dst) {
  if (dst <= 0 || src <= dst) return 1;
  return (src + dst - 1) / dst;
}

// Bilinear sample of one 8-bit channel: byte (x, y) at p + y * stride + x * step.
COSAL_HD float bilinear(const uint8_t* p, int stride, int step, const Tap& tx, const Tap& ty) {
  const uint8_t* r0 = p + static_cast<ptrdiff_t>(ty.i0) * stride;
  const uint8_t* r1 = p + static_cast<ptrdiff_t>(ty.i1) * stride;
  const float a0 = r0[tx.i0 * step], b0 = r0[tx.i1 * step];
  const float a1 = r1[tx.i0 * step], b1 = r1[tx.i1 * step];
  const float h0 = a0 + tx.w * (b0 - a0);
  const float h1 = a1 + tx.w * (b1 - a1);
  return h0 + ty.w * (h1 - h0);
}

// Byte offsets of R, G, B within a packed pixel and the pixel size; 0 for planar.
struct Packing {
  int r, g, b, step;
};

COSAL_HD Packing packing(Format f) {
  switch (f) {
    case Format::kRGB:
      return {0, 1, 2, 3};
    case Format::kBGR:
      return {2, 1, 0, 3};
    case Format::kRGBA:
      return {0, 1, 2, 4};
    case Format::kBGRA:
      return {2, 1, 0, 4};
    case Format::kARGB:
      return {1, 2, 3, 4};
    case Format::kABGR:
      return {3, 2, 1, 4};
    default:
      return {0, 0, 0, 0};
  }
}

// Output pixel (x, y): R, G, B in [0, 255] after resampling and conversion.
COSAL_HD void resample_pixel(const Image& img, int x, int y, int out_w, int out_h, float rgb[3]) {
  const int nx = samples_for(img.width, out_w), ny = samples_for(img.height, out_h);
  const double sx = static_cast<double>(img.width) / out_w;
  const double sy = static_cast<double>(img.height) / out_h;
  const float inv = 1.f / static_cast<float>(nx * ny);
  float acc[3] = {0.f, 0.f, 0.f};
  const Packing pk = packing(img.format);
  if (pk.step > 0) {
    const uint8_t* p = img.plane[0];
    for (int j = 0; j < ny; ++j) {
      const Tap ty = tap(y, j, ny, sy, img.height);
      for (int i = 0; i < nx; ++i) {
        const Tap tx = tap(x, i, nx, sx, img.width);
        acc[0] += bilinear(p + pk.r, img.stride[0], pk.step, tx, ty);
        acc[1] += bilinear(p + pk.g, img.stride[0], pk.step, tx, ty);
        acc[2] += bilinear(p + pk.b, img.stride[0], pk.step, tx, ty);
      }
    }
    for (int c = 0; c < 3; ++c) rgb[c] = clamp_value(acc[c] * inv, 0.f, 255.f);
    return;
  }
  // YUV 4:2:0: luma at the sample position, chroma at half resolution with
  // centred siting (chroma x = (x + 0.5) / 2 - 0.5).
  const int cw = (img.width + 1) / 2, ch = (img.height + 1) / 2;
  const bool nv12 = img.format == Format::kNV12;
  const uint8_t* u = img.plane[1];
  const uint8_t* v = nv12 ? img.plane[1] + 1 : img.plane[2];
  const int ustride = img.stride[1], vstride = nv12 ? img.stride[1] : img.stride[2];
  const int cstep = nv12 ? 2 : 1;
  const double csx = sx * cw / img.width;  // chroma pixels per output pixel (sx / 2)
  const double csy = sy * ch / img.height;
  for (int j = 0; j < ny; ++j) {
    const Tap ty = tap(y, j, ny, sy, img.height);
    const Tap cy = tap(y, j, ny, csy, ch);
    for (int i = 0; i < nx; ++i) {
      const Tap tx = tap(x, i, nx, sx, img.width);
      const Tap cx = tap(x, i, nx, csx, cw);
      acc[0] += bilinear(img.plane[0], img.stride[0], 1, tx, ty);
      acc[1] += bilinear(u, ustride, cstep, cx, cy);
      acc[2] += bilinear(v, vstride, cstep, cx, cy);
    }
  }
  // Limited range to full: Y' = (Y - 16) 255/219, Pb/Pr = (U/V - 128) 255/224.
  const float yy = (acc[0] * inv - 16.f) * (255.f / 219.f);
  const float pb = (acc[1] * inv - 128.f) * (255.f / 224.f);
  const float pr = (acc[2] * inv - 128.f) * (255.f / 224.f);
  // R = Y + 2(1-Kr) Pr, B = Y + 2(1-Kb) Pb, G = Y - 2Kr(1-Kr)/Kg Pr - 2Kb(1-Kb)/Kg Pb.
  const bool bt709 = img.matrix == Matrix::kBT709;
  const float rv = bt709 ? 1.5748f : 1.402f;
  const float bu = bt709 ? 1.8556f : 1.772f;
  const float gv = bt709 ? 0.468124f : 0.714136f;
  const float gu = bt709 ? 0.187324f : 0.344136f;
  rgb[0] = clamp_value(yy + rv * pr, 0.f, 255.f);
  rgb[1] = clamp_value(yy - gv * pr - gu * pb, 0.f, 255.f);
  rgb[2] = clamp_value(yy + bu * pb, 0.f, 255.f);
}

// The mask at destination (x, y), as the byte MaskUpscaler writes.
COSAL_HD uint8_t mask_pixel(const float* mask, int mask_w, int mask_h, int x, int y, int dst_w,
                            int dst_h, int threshold) {
  const Tap tx = tap(x, 0, 1, static_cast<double>(mask_w) / dst_w, mask_w);
  const Tap ty = tap(y, 0, 1, static_cast<double>(mask_h) / dst_h, mask_h);
  const float* r0 = mask + static_cast<ptrdiff_t>(ty.i0) * mask_w;
  const float* r1 = mask + static_cast<ptrdiff_t>(ty.i1) * mask_w;
  const float h0 = r0[tx.i0] + tx.w * (r0[tx.i1] - r0[tx.i0]);
  const float h1 = r1[tx.i0] + tx.w * (r1[tx.i1] - r1[tx.i0]);
  const float v = (h0 + ty.w * (h1 - h0)) * 255.f + 0.5f;
  if (threshold > 0) return v >= static_cast<float>(threshold) ? 255 : 0;
  // NaN compares false and lands on 0, as in MaskUpscaler.
  return static_cast<uint8_t>(v > 0.f ? (v < 255.f ? v : 255.f) : 0.f);
}

}  // namespace cosal::prepost::detail
