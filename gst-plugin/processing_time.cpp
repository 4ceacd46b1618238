#include "processing_time.h"

namespace cosal {

namespace {
constexpr int64_t kMillisecond = 1000000;
}

bool ProcessingTime::observe(int64_t frame_ns) {
  // Only the streaming thread writes ema_: load and store need no RMW.
  const int64_t old = ema_.load(std::memory_order_relaxed);
  const int64_t ema = old == 0 ? frame_ns : (old * 7 + frame_ns) / 8;
  ema_.store(ema, std::memory_order_relaxed);
  const int64_t reported = reported_.load(std::memory_order_relaxed);
  if (ema <= reported + reported / 4 + kMillisecond) return false;
  bool expected = false;
  return posted_.compare_exchange_strong(expected, true, std::memory_order_relaxed);
}

int64_t ProcessingTime::report() {
  const int64_t e = ema_.load(std::memory_order_relaxed);
  reported_.store(e, std::memory_order_relaxed);
  posted_.store(false, std::memory_order_relaxed);
  return e;
}

void ProcessingTime::clear() {
  ema_.store(0, std::memory_order_relaxed);
  reported_.store(0, std::memory_order_relaxed);
  posted_.store(false, std::memory_order_relaxed);
}

}  // namespace cosal
