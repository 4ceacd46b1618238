// GuidedUpsampler: edge-aware upsampling of a float mask (the decoder's
// output at the inference size) to the frame size, the frame's luma as the
// guide: the fast guided filter (He & Sun, "Fast Guided Filter", 2015; He et
// al., "Guided Image Filtering", 2010).
//
// At the mask's own grid (the guide area-averaged down to it) every window
// of radius r fits the mask as a linear function of the guide, p ~ a I + b,
// with a = cov(I, p) / (var(I) + eps); the coefficients are averaged over
// the windows that cover each pixel, upsampled bilinearly to the frame size
// and applied to the full-resolution guide: q = a I + b, clamped to [0, 1].
// Where the guide is flat (var(I) << eps) a -> 0 and q is the box-smoothed
// mask upsampled bilinearly; where the guide has an edge inside a blurred
// mask edge, the output's edge moves onto the guide's.
//
// The filter works at the mask's grid, not at a fixed fraction of the frame:
// the mask's blur (stride-4 logits) is a few of its own pixels wide whatever
// the frame size, so the radius is in mask pixels and one setting suits
// every frame size (and squashed inference sizes, where a mask pixel is not
// square in the frame).
//
// Box filters are running sums (O(1) per pixel for any radius). No
// allocation per frame: buffers are sized once per size change. The 8-bit
// output is written exactly as MaskUpscaler writes it.
#pragma once

#include <cstdint>
#include <vector>

#include "mask_upscaler.h"

namespace cosal {

// An 8-bit luma plane: pixel (x, y) at data[y * stride + x].
struct LumaView {
  const uint8_t* data = nullptr;
  int width = 0, height = 0, stride = 0;
};

class GuidedUpsampler {
 public:
  static constexpr int kDefaultRadius = 2;
  static constexpr float kDefaultEps = 1e-2f;

  // radius >= 0 in mask pixels; eps > 0 regularises a, in units of the
  // guide's variance with luma in [0, 1] (edges with a luma standard
  // deviation well below sqrt(eps) are smoothed over, not followed).
  void set_params(int radius, float eps);
  int radius() const { return radius_; }
  float eps() const { return eps_; }

  void configure(int src_width, int src_height, int dst_width, int dst_height);

  // src: src_height rows of src_width floats in [0, 1]. guide: the frame's
  // luma, dst_width x dst_height. dst, pixel_stride, row_stride and
  // threshold as MaskUpscaler::run.
  void run(const float* src, const LumaView& guide, uint8_t* dst, int pixel_stride, int row_stride,
           int threshold);

 private:
  // The 1 / window widths, which depend on the radius and the source size.
  void compute_window_widths();
  // Mean over the (2r+1)^2 window clipped to the grid, in -> out (n floats
  // each); uses rows_.
  void box(const float* in, float* out);
  void area_average(const LumaView& guide);  // guide -> small_[kI]

  struct Span {
    int begin, end;  // source pixels [begin, end) averaged into one grid pixel
  };
  static std::vector<Span> spans(int src, int dst);

  int radius_ = kDefaultRadius;
  float eps_ = kDefaultEps;
  int src_w_ = 0, src_h_ = 0, dst_w_ = 0, dst_h_ = 0;
  std::vector<Span> gx_, gy_;               // frame -> grid
  std::vector<MaskUpscaler::Tap> xs_, ys_;  // grid -> frame
  std::vector<float> inv_nx_, inv_ny_;      // 1 / clipped window widths
  std::vector<uint32_t> col_sum_;           // one row of frame width
  // Grid planes: guide, mask, guide * mask, guide^2 and their means; a, b
  // and their means reuse them.
  enum { kI, kP, kIp, kII, kMeanI, kMeanP, kMeanIp, kMeanII, kPlanes };
  std::vector<float> small_[kPlanes];
  std::vector<float> rows_;             // box filter's horizontal pass
  std::vector<double> acc_;             // box filter's vertical running sums
  std::vector<float> wide_a_, wide_b_;  // the coefficients' grid rows at the frame width
};

}  // namespace cosal
