// SceneCut: detects a cut between consecutive frames so the element can start
// a new co-saliency group there. A frame is summarised by a 16x16 thumbnail
// of its luma; a cut is the mean absolute difference of consecutive
// thumbnails (as a fraction of full scale) exceeding the threshold.
#pragma once

#include <array>
#include <cstdint>

namespace cosal {

class SceneCut {
 public:
  static constexpr int kSide = 16;

  // Packed RGB frame. Returns the difference to the previous frame in [0, 1]
  // (0 for the first frame after a reset).
  double observe(const uint8_t* rgb, int width, int height, int stride);
  void reset() { have_previous_ = false; }

 private:
  std::array<float, kSide * kSide> previous_{};
  std::array<float, kSide * kSide> current_{};
  bool have_previous_ = false;
};

}  // namespace cosal
