// The motion cue on synthetic frames whose motion is known: a square that
// moves on a still or panning textured background, identical frames, frames
// too small to measure, and the per-stream history (first frame, gap, reset).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "motion_cue.h"

namespace {

using cosal::MotionCue;
using cosal::RgbView;

constexpr int kW = 128, kH = 96;

// A textured background shifted by `pan` pixels (the camera), with a
// uniform-texture square whose left edge is at `square_x` (the object).
std::vector<uint8_t> frame(int pan, int square_x, int w = kW, int h = kH) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* q = &p[(static_cast<size_t>(y) * w + x) * 3];
      const bool in = x >= square_x && x < square_x + 32 && y >= 32 && y < 64;
      // Smooth, non-periodic texture, so the flow is well defined.
      const int u = in ? x - square_x : x + pan, v = y;
      const uint8_t t = static_cast<uint8_t>(128 + 60 * std::sin(u * 0.31 + v * 0.17) +
                                             50 * std::cos(u * 0.13 - v * 0.29));
      q[0] = in ? static_cast<uint8_t>(255 - t) : t;
      q[1] = t;
      q[2] = static_cast<uint8_t>(in ? 40 : 255 - t);
    }
  return p;
}

RgbView view(const std::vector<uint8_t>& p, int w = kW, int h = kH) {
  return RgbView{p.data(), w, h, w * 3};
}

// Mean of the map inside and outside the square at `square_x` (a 4-pixel
// margin left out on each side of its edge, where both are blurred).
void means(const std::vector<float>& m, int square_x, double* inside, double* outside) {
  double si = 0, so = 0;
  int ni = 0, no = 0;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      const bool in = x >= square_x + 4 && x < square_x + 28 && y >= 36 && y < 60;
      const bool out = x < square_x - 12 || x >= square_x + 44 || y < 20 || y >= 76;
      if (in) si += m[static_cast<size_t>(y) * kW + x], ++ni;
      if (out) so += m[static_cast<size_t>(y) * kW + x], ++no;
    }
  *inside = si / ni;
  *outside = so / no;
}

std::vector<float> residual(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::vector<float> m(static_cast<size_t>(kW) * kH, -1.f);
  const auto ya = cosal::luma(view(a)), yb = cosal::luma(view(b));
  cosal::residual_motion(ya.data(), yb.data(), kW, kH, m.data());
  return m;
}

TEST(MotionCue, LumaIsBt601InEightBitFixedPoint) {
  // (77 R + 150 G + 29 B + 128) >> 8: the weights sum to 256, so white stays
  // 255; pure green is 149 (0.587 x 255 = 149.7 truncated by the shift).
  const std::vector<uint8_t> px = {255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0};
  const auto y = cosal::luma(RgbView{px.data(), 4, 1, 12});
  EXPECT_EQ(y, (std::vector<uint8_t>{255, 0, 77, 149}));
  EXPECT_THROW(cosal::luma(RgbView{px.data(), 4, 1, 6}), std::invalid_argument);
}

TEST(MotionCue, AMovingObjectOnAStillBackground) {
  double in = 0, out = 0;
  means(residual(frame(0, 40), frame(0, 44)), 44, &in, &out);
  EXPECT_GT(in, 0.5);
  EXPECT_LT(out, 0.1);
}

TEST(MotionCue, TheCamerasOwnMotionIsRemoved) {
  // The background pans 5 pixels left, the square moves 4 right: only the
  // square is left.
  double in = 0, out = 0;
  means(residual(frame(0, 36), frame(5, 40)), 40, &in, &out);
  EXPECT_GT(in, 0.5);
  EXPECT_LT(out, 0.1);
  // A pan alone leaves (almost) nothing.
  const auto m = residual(frame(0, 40), frame(5, 40 - 5));
  double sum = 0;
  for (float v : m) sum += v;
  EXPECT_LT(sum / m.size(), 0.05);
}

TEST(MotionCue, IdenticalFramesAndTinyFramesGiveZero) {
  for (float v : residual(frame(0, 40), frame(0, 40))) ASSERT_LT(v, 0.05f);
  // Too small to measure: zeros, not garbage.
  const auto a = frame(0, 4, 16, 16), b = frame(0, 8, 16, 16);
  const auto ya = cosal::luma(view(a, 16, 16)), yb = cosal::luma(view(b, 16, 16));
  std::vector<float> m(256, -1.f);
  cosal::residual_motion(ya.data(), yb.data(), 16, 16, m.data());
  for (float v : m) ASSERT_EQ(v, 0.f);
}

TEST(MotionCue, TheStreamComparesWithTheFrameTwoBack) {
  MotionCue cue;
  std::vector<float> m;
  // Frame 0: nothing to compare with.
  cue.observe(view(frame(0, 36)), &m);
  ASSERT_EQ(m.size(), static_cast<size_t>(kW) * kH);
  for (float v : m) ASSERT_EQ(v, 0.f);
  // Frame 1 against frame 0; frame 2 against frame 0 (kGap = 2), whatever
  // frame 1 was: the map equals the pairwise residual of frames 0 and 2.
  const auto f0 = frame(0, 36), f1 = frame(0, 90), f2 = frame(0, 44);
  MotionCue fresh;
  fresh.observe(view(f0), &m);
  fresh.observe(view(f1), &m);
  fresh.observe(view(f2), &m);
  static_assert(MotionCue::kGap == 2);
  EXPECT_EQ(m, residual(f0, f2));
  // A reset forgets the history; so does a new frame size.
  fresh.reset();
  fresh.observe(view(f2), &m);
  for (float v : m) ASSERT_EQ(v, 0.f);
  fresh.observe(view(f0), &m);
  const auto small = frame(0, 4, 64, 48);
  fresh.observe(view(small, 64, 48), &m);
  ASSERT_EQ(m.size(), 64u * 48u);
  for (float v : m) ASSERT_EQ(v, 0.f);
}

}  // namespace
