// CPU reference of prepost.h: the same per-pixel code as the kernels
// (prepost_math.h), one pixel at a time. Not the element's CPU path (that is
// GstVideoConverter and MaskUpscaler, vectorised); this is what the CUDA
// kernels are tested against.
#include <cmath>
#include <cstring>
#include <string>

#include "prepost.h"
#include "prepost_math.h"

namespace cosal::prepost {

void validate(const Image& image) {
  if (image.width <= 0 || image.height <= 0)
    throw std::invalid_argument("image size " + std::to_string(image.width) + "x" +
                                std::to_string(image.height));
  const detail::Packing pk = detail::packing(image.format);
  if (pk.step > 0) {
    if (!image.plane[0] || image.stride[0] < image.width * pk.step)
      throw std::invalid_argument("packed image: missing plane or stride below a row");
    return;
  }
  const int cw = (image.width + 1) / 2;
  const bool nv12 = image.format == Format::kNV12;
  if (!image.plane[0] || !image.plane[1] || (!nv12 && !image.plane[2]) ||
      image.stride[0] < image.width || image.stride[1] < (nv12 ? 2 * cw : cw) ||
      (!nv12 && image.stride[2] < cw))
    throw std::invalid_argument("YUV image: missing plane or stride below a row");
}

int samples(int src, int dst) { return detail::samples_for(src, dst); }

void preprocess_reference(const Image& src, int out_w, int out_h, const Normalisation& norm,
                          float* out) {
  validate(src);
  if (out_w <= 0 || out_h <= 0 || !out) throw std::invalid_argument("output size or buffer");
  const size_t plane = static_cast<size_t>(out_w) * out_h;
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      float rgb[3];
      detail::resample_pixel(src, x, y, out_w, out_h, rgb);
      const size_t i = static_cast<size_t>(y) * out_w + x;
      for (int c = 0; c < 3; ++c) out[c * plane + i] = rgb[c] * norm.scale[c] + norm.bias[c];
    }
}

void write_mask_reference(const float* mask, int mask_w, int mask_h, uint8_t* dst, int dst_w,
                          int dst_h, int pixel_stride, int row_stride, int threshold) {
  if (mask_w <= 0 || mask_h <= 0 || dst_w <= 0 || dst_h <= 0 || !mask || !dst)
    throw std::invalid_argument("mask or destination size or buffer");
  for (int y = 0; y < dst_h; ++y)
    for (int x = 0; x < dst_w; ++x)
      dst[static_cast<ptrdiff_t>(y) * row_stride + static_cast<ptrdiff_t>(x) * pixel_stride] =
          detail::mask_pixel(mask, mask_w, mask_h, x, y, dst_w, dst_h, threshold);
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // value = abs_f * 2^24 half-ulps; round to nearest even.
    float a;
    std::memcpy(&a, &abs, 4);
    const float scaled = a * 16777216.f;  // exact: a power-of-two scale
    const float r = std::nearbyint(scaled);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
  }
  // Normal: rebias the exponent, round the mantissa from 23 to 10 bits.
  const uint32_t mant = abs & 0x7fffffu;
  const uint32_t exp = (abs >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    f = mant ? std::nanf("") : INFINITY;
  } else {
    const uint32_t bits = ((exp - 15 + 127) << 23) | (mant << 13);
    std::memcpy(&f, &bits, 4);
  }
  return sign ? -f : f;
}

}  // namespace cosal::prepost
