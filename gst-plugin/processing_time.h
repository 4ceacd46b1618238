// ProcessingTime: how long the element takes per frame, for the LATENCY
// query. An exponential moving average (weight 1/8) of each frame's own
// time, so it follows the current cost and forgets the warm-up. The
// streaming thread observes, LATENCY queries report from any thread: every
// member is atomic.
#pragma once

#include <atomic>
#include <cstdint>

namespace cosal {

class ProcessingTime {
 public:
  // Adds one frame's processing time. Returns true once the estimate has
  // grown past the last reported value by a quarter plus 1 ms: the caller
  // posts a latency message then, and not again until the next report().
  bool observe(int64_t frame_ns);
  // The current estimate, remembered as what the pipeline was told.
  int64_t report();
  int64_t estimate() const { return ema_.load(std::memory_order_relaxed); }
  void clear();

 private:
  std::atomic<int64_t> ema_{0};
  std::atomic<int64_t> reported_{0};
  std::atomic<bool> posted_{false};
};

}  // namespace cosal
