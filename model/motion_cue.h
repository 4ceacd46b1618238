// MotionCue: where a frame moves against the camera's own motion. Dense
// optical flow (OpenCV's DIS) from the frame back to an earlier one, minus
// the flow of the homography that best explains it (RANSAC: the background
// and the camera), leaves the motion of independently moving objects. Its
// magnitude, scaled by the frame's median residual, is a map in [0, 1] at
// the frame's size: a cue the decoder can take beside appearance, for the
// object DAVIS calls foreground is the one that moves.
//
// Free of LibTorch and of GStreamer; OpenCV stays in motion_cue.cpp.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine.h"

namespace cosal {

// Luma of packed RGB, width*height bytes: BT.601 in 8-bit fixed point,
// (77 R + 150 G + 29 B + 128) >> 8.
std::vector<uint8_t> luma(const RgbView& frame);

// The residual motion of `grey` against `earlier` (both width*height luma
// bytes), normalised to [0, 1], into `out` (width*height floats). Zero
// everywhere when the frames are too small or the flow has no consistent
// background.
void residual_motion(const uint8_t* earlier, const uint8_t* grey, int width, int height,
                     float* out);

// The per-stream state: the last frames' luma.
class MotionCue {
 public:
  // Frames back the cue compares with. The training video holds every
  // second frame of 24 fps DAVIS, so the cue learned is motion over two
  // frames at 24-30 fps.
  static constexpr int kGap = 2;

  // Observes the next frame of a stream; writes its map (width*height
  // floats) into `map`. The first frame after a reset has no earlier frame:
  // an all-zero map ("no motion known"), as for the first frame of a
  // training sequence; the second compares with the first.
  void observe(const RgbView& frame, std::vector<float>* map);
  void reset() { history_.clear(); }

 private:
  std::deque<std::vector<uint8_t>> history_;  // oldest first, at most kGap
  int width_ = 0, height_ = 0;
};

}  // namespace cosal
