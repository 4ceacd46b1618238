// Synthetic video frames for cosal-bench: a textured background with a
// bright disc that moves a little from frame to frame, so consecutive frames
// differ the way a real shot does (timings do not depend on the content, but
// a constant frame could hide work that is skipped on identical input).
#pragma once

#include <cstdint>
#include <vector>

namespace cosal::bench {

// Packed RGB8, width * 3 bytes per row, frame `index` of the sequence.
std::vector<uint8_t> synthetic_rgb(int width, int height, int index);

}  // namespace cosal::bench
