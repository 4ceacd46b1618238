// GuidedUpsampler against a direct (O(r^2) per pixel, double precision)
// guided filter, against MaskUpscaler in the a = 0 limits, and on step edges:
// the property it exists for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "guided_upsampler.h"
#include "mask_upscaler.h"

namespace {

struct Plane {
  int w, h;
  std::vector<double> v;
  double at(int x, int y) const { return v[static_cast<size_t>(y) * w + x]; }
};

// Mean over the window of radius r clipped to the plane.
Plane box_ref(const Plane& p, int r) {
  Plane o{p.w, p.h, std::vector<double>(p.v.size())};
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) {
      double s = 0;
      int n = 0;
      for (int j = std::max(0, y - r); j <= std::min(p.h - 1, y + r); ++j)
        for (int i = std::max(0, x - r); i <= std::min(p.w - 1, x + r); ++i, ++n) s += p.at(i, j);
      o.v[static_cast<size_t>(y) * p.w + x] = s / n;
    }
  return o;
}

// Bilinear, aligned centres, clamped (MaskUpscaler's convention), in double.
double bilinear_ref(const Plane& p, int dw, int dh, int x, int y) {
  auto coord = [](int i, int src, int dst, int* i0, int* i1) {
    double s = (i + 0.5) * src / dst - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(src - 1));
    *i0 = static_cast<int>(std::floor(s));
    *i1 = std::min(*i0 + 1, src - 1);
    return s - *i0;
  };
  int x0, x1, y0, y1;
  const double wx = coord(x, p.w, dw, &x0, &x1), wy = coord(y, p.h, dh, &y0, &y1);
  const double top = p.at(x0, y0) + wx * (p.at(x1, y0) - p.at(x0, y0));
  const double bot = p.at(x0, y1) + wx * (p.at(x1, y1) - p.at(x0, y1));
  return top + wy * (bot - top);
}

// The fast guided filter written out directly; counts in *clamped the
// pixels where a I + b left [0, 1].
std::vector<uint8_t> guided_ref(const std::vector<float>& mask, int mw, int mh,
                                const std::vector<uint8_t>& guide, int gw, int gh, int r,
                                double eps, int* clamped) {
  Plane I{mw, mh, std::vector<double>(static_cast<size_t>(mw) * mh)};
  for (int y = 0; y < mh; ++y)
    for (int x = 0; x < mw; ++x) {
      const int x0 = std::min(static_cast<int>(static_cast<int64_t>(x) * gw / mw), gw - 1);
      const int x1 = std::max(static_cast<int>(static_cast<int64_t>(x + 1) * gw / mw), x0 + 1);
      const int y0 = std::min(static_cast<int>(static_cast<int64_t>(y) * gh / mh), gh - 1);
      const int y1 = std::max(static_cast<int>(static_cast<int64_t>(y + 1) * gh / mh), y0 + 1);
      double s = 0;
      for (int j = y0; j < y1; ++j)
        for (int i = x0; i < x1; ++i) s += guide[static_cast<size_t>(j) * gw + i];
      I.v[static_cast<size_t>(y) * mw + x] = s / (255.0 * (x1 - x0) * (y1 - y0));
    }
  Plane P{mw, mh, std::vector<double>(mask.begin(), mask.end())};
  Plane Ip = P, II = I;
  for (size_t i = 0; i < P.v.size(); ++i) {
    Ip.v[i] = I.v[i] * P.v[i];
    II.v[i] = I.v[i] * I.v[i];
  }
  const Plane mI = box_ref(I, r), mP = box_ref(P, r), mIp = box_ref(Ip, r), mII = box_ref(II, r);
  Plane a = P, b = P;
  for (size_t i = 0; i < P.v.size(); ++i) {
    a.v[i] = (mIp.v[i] - mI.v[i] * mP.v[i]) / (mII.v[i] - mI.v[i] * mI.v[i] + eps);
    b.v[i] = mP.v[i] - a.v[i] * mI.v[i];
  }
  const Plane ma = box_ref(a, r), mb = box_ref(b, r);
  std::vector<uint8_t> out(static_cast<size_t>(gw) * gh);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < gw; ++x) {
      const double q =
          bilinear_ref(ma, gw, gh, x, y) * guide[static_cast<size_t>(y) * gw + x] / 255.0 +
          bilinear_ref(mb, gw, gh, x, y);
      if (q < 0.0 || q > 1.0) ++*clamped;
      out[static_cast<size_t>(y) * gw + x] =
          static_cast<uint8_t>(std::lround(std::clamp(q, 0.0, 1.0) * 255.0));
    }
  return out;
}

std::vector<uint8_t> run_guided(cosal::GuidedUpsampler& g, const std::vector<float>& mask, int mw,
                                int mh, const std::vector<uint8_t>& guide, int gw, int gh,
                                int threshold = 0) {
  g.configure(mw, mh, gw, gh);
  std::vector<uint8_t> out(static_cast<size_t>(gw) * gh, 7);
  g.run(mask.data(), cosal::LumaView{guide.data(), gw, gh, gw}, out.data(), 1, gw, threshold);
  return out;
}

std::vector<uint8_t> run_bilinear(const std::vector<float>& mask, int mw, int mh, int gw, int gh) {
  cosal::MaskUpscaler up;
  up.configure(mw, mh, gw, gh);
  std::vector<uint8_t> out(static_cast<size_t>(gw) * gh);
  up.run(mask.data(), out.data(), 1, gw, 0);
  return out;
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

std::vector<float> random_mask(int w, int h, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> m(static_cast<size_t>(w) * h);
  for (float& v : m) v = u(rng);
  return m;
}

std::vector<uint8_t> random_guide(int w, int h, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 255);
  std::vector<uint8_t> g(static_cast<size_t>(w) * h);
  for (uint8_t& v : g) v = static_cast<uint8_t>(u(rng));
  return g;
}

TEST(GuidedUpsampler, EqualsTheDirectGuidedFilter) {
  std::mt19937 rng(3);
  cosal::GuidedUpsampler g;
  int clamped = 0;
  // Odd, non-integer scales, a radius past the grid, 1x1 at either end.
  struct Case {
    int mw, mh, gw, gh, r;
    float eps;
  };
  for (const Case c :
       {Case{16, 12, 53, 37, 2, 1e-2f}, Case{9, 7, 40, 41, 1, 1e-3f}, Case{8, 8, 19, 8, 20, 1e-2f},
        Case{7, 5, 33, 17, 3, 1e-1f}, Case{1, 1, 5, 3, 2, 1e-2f}, Case{7, 5, 1, 1, 1, 1e-2f},
        Case{6, 4, 3, 2, 1, 1e-2f}}) {
    g.set_params(c.r, c.eps);
    const auto mask = random_mask(c.mw, c.mh, rng);
    const auto guide = random_guide(c.gw, c.gh, rng);
    EXPECT_LE(max_abs_diff(run_guided(g, mask, c.mw, c.mh, guide, c.gw, c.gh),
                           guided_ref(mask, c.mw, c.mh, guide, c.gw, c.gh, c.r, c.eps, &clamped)),
              1)
        << c.mw << "x" << c.mh << " -> " << c.gw << "x" << c.gh << " r " << c.r;
  }
  // Random guides make a I + b overshoot: the clamping was exercised.
  EXPECT_GT(clamped, 0);
}

TEST(GuidedUpsampler, RadiusZeroIsTheBilinearUpsampling) {
  // A 1x1 window has no variance: a = 0, b = the mask.
  std::mt19937 rng(5);
  cosal::GuidedUpsampler g;
  g.set_params(0, 1e-2f);
  const auto mask = random_mask(14, 10, rng);
  const auto guide = random_guide(45, 31, rng);
  EXPECT_EQ(
      max_abs_diff(run_guided(g, mask, 14, 10, guide, 45, 31), run_bilinear(mask, 14, 10, 45, 31)),
      0);
}

TEST(GuidedUpsampler, ConstantGuideGivesTheBoxSmoothedMaskUpsampledBilinearly) {
  // No variance in any window: a = 0, b = the window mean of the mask, and
  // q = box(box(mask)) upsampled; a constant mask comes out unchanged.
  std::mt19937 rng(7);
  cosal::GuidedUpsampler g;
  g.set_params(3, 1e-2f);
  const std::vector<uint8_t> flat(50 * 30, 90);
  const auto mask = random_mask(20, 12, rng);
  Plane p{20, 12, std::vector<double>(mask.begin(), mask.end())};
  const Plane smooth = box_ref(box_ref(p, 3), 3);
  const std::vector<float> smooth_f(smooth.v.begin(), smooth.v.end());
  EXPECT_LE(max_abs_diff(run_guided(g, mask, 20, 12, flat, 50, 30),
                         run_bilinear(smooth_f, 20, 12, 50, 30)),
            1);
  const std::vector<float> constant(20 * 12, 0.3f);
  for (uint8_t v : run_guided(g, constant, 20, 12, flat, 50, 30)) EXPECT_EQ(v, 77);
}

// Column where row y of the output first reaches 128.
int crossing(const std::vector<uint8_t>& img, int w, int y) {
  for (int x = 0; x < w; ++x)
    if (img[static_cast<size_t>(y) * w + x] >= 128) return x;
  return -1;
}

// The largest difference between horizontally neighbouring pixels of row y.
int steepest(const std::vector<uint8_t>& img, int w, int y) {
  int d = 0;
  for (int x = 1; x < w; ++x)
    d = std::max(d, img[static_cast<size_t>(y) * w + x] - img[static_cast<size_t>(y) * w + x - 1]);
  return d;
}

TEST(GuidedUpsampler, AStepInTheGuideSharpensABlurredMaskEdgeOntoIt) {
  // Frame 128x64, mask 32x16 (4 frame pixels per mask pixel). The guide
  // steps from dark to bright at column 72; the mask's edge is a ramp 6 mask
  // pixels wide centred 1.5 mask pixels (6 frame pixels) left of it, as a
  // network's blurred, slightly misplaced edge.
  const int gw = 128, gh = 64, mw = 32, mh = 16, step = 72, y = gh / 2;
  std::vector<uint8_t> guide(static_cast<size_t>(gw) * gh);
  for (int j = 0; j < gh; ++j)
    for (int x = 0; x < gw; ++x) guide[static_cast<size_t>(j) * gw + x] = x >= step ? 200 : 40;
  std::vector<float> mask(static_cast<size_t>(mw) * mh);
  const double centre = step / 4.0 - 1.5;  // in mask pixel coordinates
  for (int j = 0; j < mh; ++j)
    for (int x = 0; x < mw; ++x)
      mask[static_cast<size_t>(j) * mw + x] =
          static_cast<float>(std::clamp((x + 0.5 - centre) / 6.0 + 0.5, 0.0, 1.0));
  cosal::GuidedUpsampler g;
  g.set_params(4, 1e-2f);
  const auto guided = run_guided(g, mask, mw, mh, guide, gw, gh);
  const auto plain = run_bilinear(mask, mw, mh, gw, gh);
  // The 50 % contour moves onto the guide's edge (bilinear leaves it 6 px
  // off), and the edge becomes a jump there rather than a ramp.
  EXPECT_EQ(crossing(guided, gw, y), step);
  EXPECT_LE(crossing(plain, gw, y), step - 5);
  const int jump =
      guided[static_cast<size_t>(y) * gw + step] - guided[static_cast<size_t>(y) * gw + step - 1];
  EXPECT_EQ(jump, steepest(guided, gw, y));
  EXPECT_GT(jump, 4 * steepest(plain, gw, y));
  // The guide's edge is vertical: so is the output's.
  for (int j = 0; j < gh; ++j) EXPECT_EQ(crossing(guided, gw, j), step) << j;
}

TEST(GuidedUpsampler, AnAlignedHardEdgeStaysHardNaNIsZeroAndThresholdBinarises) {
  // Mask and guide step at the same place: a I + b fits every window (up to
  // eps), so the edge stays where it is and stays hard; only the two frame
  // pixels either side, where a and b are interpolated across it, soften.
  const int gw = 40, gh = 20, mw = 10, mh = 5;
  std::vector<uint8_t> guide(static_cast<size_t>(gw) * gh);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < gw; ++x) guide[static_cast<size_t>(y) * gw + x] = x >= 20 ? 255 : 30;
  std::vector<float> mask(static_cast<size_t>(mw) * mh);
  for (int y = 0; y < mh; ++y)
    for (int x = 0; x < mw; ++x) mask[static_cast<size_t>(y) * mw + x] = x >= 5 ? 1.f : 0.f;
  cosal::GuidedUpsampler g;
  g.set_params(2, 1e-3f);
  const auto out = run_guided(g, mask, mw, mh, guide, gw, gh);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < gw; ++x) {
      const uint8_t v = out[static_cast<size_t>(y) * gw + x];
      EXPECT_EQ(v >= 128, x >= 20) << x << "," << y;
      if (x < 18 || x > 21) {
        EXPECT_NEAR(v, x >= 20 ? 255 : 0, 2) << x << "," << y;
      }
    }
  // A soft result, binarised as MaskUpscaler does.
  std::mt19937 rng(13);
  const auto soft_mask = random_mask(mw, mh, rng);
  const auto noisy = random_guide(gw, gh, rng);
  const auto soft = run_guided(g, soft_mask, mw, mh, noisy, gw, gh);
  const auto bin = run_guided(g, soft_mask, mw, mh, noisy, gw, gh, 128);
  for (size_t i = 0; i < bin.size(); ++i) EXPECT_EQ(bin[i], soft[i] >= 128 ? 255 : 0) << i;
  std::vector<float> nan(static_cast<size_t>(mw) * mh, std::nanf(""));
  for (uint8_t v : run_guided(g, nan, mw, mh, guide, gw, gh)) EXPECT_EQ(v, 0);
}

TEST(GuidedUpsampler, StridesLeaveOtherBytesAloneAndStateDoesNotLeakAcrossFrames) {
  std::mt19937 rng(11);
  cosal::GuidedUpsampler g;
  const int mw = 9, mh = 6, gw = 23, gh = 13, gstride = 29;
  const auto m1 = random_mask(mw, mh, rng), m2 = random_mask(mw, mh, rng);
  const auto g1 = random_guide(gw, gh, rng), g2 = random_guide(gw, gh, rng);
  const auto first = run_guided(g, m1, mw, mh, g1, gw, gh);
  run_guided(g, m2, mw, mh, g2, gw, gh);
  g.configure(4, 4, 8, 8);  // a size change and back
  EXPECT_EQ(run_guided(g, m1, mw, mh, g1, gw, gh), first);

  // A guide with padding and the alpha bytes of RGBA rows 100 bytes apart.
  std::vector<uint8_t> padded(static_cast<size_t>(gstride) * gh, 0);
  for (int y = 0; y < gh; ++y) std::copy_n(g1.begin() + y * gw, gw, padded.begin() + y * gstride);
  std::vector<uint8_t> rgba(static_cast<size_t>(100) * gh, 7);
  g.run(m1.data(), cosal::LumaView{padded.data(), gw, gh, gstride}, rgba.data() + 3, 4, 100, 0);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < 100; ++x) {
      const uint8_t v = rgba[static_cast<size_t>(y) * 100 + x];
      if (x % 4 == 3 && x / 4 < gw) {
        EXPECT_EQ(v, first[static_cast<size_t>(y) * gw + x / 4]) << x << "," << y;
      } else {
        EXPECT_EQ(v, 7) << x << "," << y;
      }
    }
}

}  // namespace
