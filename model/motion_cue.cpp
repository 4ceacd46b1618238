#include "motion_cue.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/calib3d.hpp>
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

namespace cosal {

namespace {

// Below this the flow's 8-pixel patches and the homography have too little
// to work with; the map is zero ("no motion known").
constexpr int kMinSide = 32;
// Sample spacing of the flow points the homography is fitted to.
constexpr int kFitStep = 8;
// RANSAC inlier threshold, pixels.
constexpr double kRansacPixels = 1.0;
// map = residual / (kMedianScale * median residual + kFloorPixels), capped at
// 1: relative to the frame's own flow noise, with a floor so that a still
// frame's sub-pixel noise does not light up.
constexpr float kMedianScale = 4.f;
constexpr float kFloorPixels = 1.f;

cv::DISOpticalFlow& flow_engine() {
  // One per thread: DIS keeps buffers between calls and is not re-entrant.
  thread_local cv::Ptr<cv::DISOpticalFlow> dis =
      cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_FAST);
  return *dis;
}

}  // namespace

std::vector<uint8_t> luma(const RgbView& frame) {
  if (!frame.data || frame.width <= 0 || frame.height <= 0 || frame.stride < 3 * frame.width)
    throw std::invalid_argument("luma: invalid RGB view");
  std::vector<uint8_t> y(static_cast<size_t>(frame.width) * frame.height);
  for (int r = 0; r < frame.height; ++r) {
    const uint8_t* p = frame.data + static_cast<size_t>(r) * frame.stride;
    uint8_t* o = y.data() + static_cast<size_t>(r) * frame.width;
    for (int c = 0; c < frame.width; ++c, p += 3)
      o[c] = static_cast<uint8_t>((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8);
  }
  return y;
}

void residual_motion(const uint8_t* earlier, const uint8_t* grey, int width, int height,
                     float* out) {
  const size_t n = static_cast<size_t>(width) * height;
  std::fill(out, out + n, 0.f);
  if (width < kMinSide || height < kMinSide) return;
  // OpenCV only reads these (the Mat headers wrap the caller's bytes).
  const cv::Mat cur(height, width, CV_8UC1, const_cast<uint8_t*>(grey));
  const cv::Mat prev(height, width, CV_8UC1, const_cast<uint8_t*>(earlier));
  cv::Mat flow;  // CV_32FC2: cur(x) ~ prev(x + flow(x))
  flow_engine().calc(cur, prev, flow);

  std::vector<cv::Point2f> src, dst;
  for (int y = kFitStep / 2; y < height; y += kFitStep)
    for (int x = kFitStep / 2; x < width; x += kFitStep) {
      const cv::Vec2f f = flow.at<cv::Vec2f>(y, x);
      src.emplace_back(static_cast<float>(x), static_cast<float>(y));
      dst.emplace_back(x + f[0], y + f[1]);
    }
  if (src.size() < 8) return;
  const cv::Mat h = cv::findHomography(src, dst, cv::RANSAC, kRansacPixels);
  if (h.empty()) return;
  const double* m = h.ptr<double>();

  // Residual flow after the camera's homography, per pixel.
  for (int y = 0; y < height; ++y) {
    const cv::Vec2f* f = flow.ptr<cv::Vec2f>(y);
    float* o = out + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x) {
      const double w = m[6] * x + m[7] * y + m[8];
      if (std::abs(w) < 1e-9) continue;
      const double hx = (m[0] * x + m[1] * y + m[2]) / w - x;
      const double hy = (m[3] * x + m[4] * y + m[5]) / w - y;
      o[x] = static_cast<float>(std::hypot(f[x][0] - hx, f[x][1] - hy));
    }
  }
  std::vector<float> sorted(out, out + n);
  std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.end());
  const float scale = 1.f / (kMedianScale * sorted[n / 2] + kFloorPixels);
  for (size_t i = 0; i < n; ++i) out[i] = std::min(1.f, out[i] * scale);
}

void MotionCue::observe(const RgbView& frame, std::vector<float>* map) {
  if (frame.width != width_ || frame.height != height_) {
    history_.clear();
    width_ = frame.width;
    height_ = frame.height;
  }
  auto y = luma(frame);
  map->assign(static_cast<size_t>(width_) * height_, 0.f);
  if (!history_.empty())
    residual_motion(history_.front().data(), y.data(), width_, height_, map->data());
  history_.push_back(std::move(y));
  while (static_cast<int>(history_.size()) > kGap) history_.pop_front();
}

}  // namespace cosal
