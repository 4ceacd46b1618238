// GroupWindow: which frames form the group G that each video frame is
// decoded against. Free of GStreamer so the scheduling can be reasoned about
// (and tested) on its own; it talks only to engine.h.
//
// Frames are numbered in arrival order. Frame t's window is the frames
// [t - lookback, t + lookahead]:
//   streaming: lookahead 0, lookback window_size - 1. G is persistent: each
//              frame updates it once (one RCAU step) and is decoded at once.
//   window:    centred, lookahead window_size / 2, lookback the rest. Frame t
//              is decoded once frame t + lookahead has arrived (or when
//              draining), so consecutive frames see windows that overlap in
//              all but one frame: no reset is visible at window borders.
// Every `refresh_interval` frames (0 = never) G is re-seeded from the cached
// features of the frame's window (Model::seed), so frames that have left the
// window stop influencing it; in between, frames entering the window are
// folded in with one RCAU step each (Model::update). refresh_interval 1 in
// window mode decodes every frame against exactly its own window.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>

#include "engine.h"

namespace cosal {

class GroupWindow {
 public:
  enum class Mode { kStreaming, kWindow };

  GroupWindow() = default;
  void configure(Mode mode, int window_size, int refresh_interval);

  // Takes effect from the next frame decoded; G and the cache are kept.
  void set_refresh_interval(int frames) { refresh_interval_ = frames < 0 ? 0 : frames; }
  int refresh_interval() const { return refresh_interval_; }
  Mode mode() const { return mode_; }
  int window_size() const { return window_size_; }

  // Appends the next frame's features.
  void push(Features features);
  // Frames pushed but not yet decoded.
  int64_t pending() const { return next_index_ - next_decode_; }
  // Whether the oldest pending frame has all the look-ahead it waits for.
  bool ready() const { return pending() > 0 && next_index_ - 1 >= next_decode_ + lookahead_; }
  // Decodes the oldest pending frame (call when ready(), or to drain at the
  // end of a group) into `mask`: the frame's encoded width*height floats.
  void pop(const Model& model, float* mask);
  // Forgets G and the cached features: the next frame starts a new group.
  // Pending frames are dropped, so drain them first.
  void reset();
  // Whether any frame has influenced G since the last reset.
  bool has_state() const { return next_index_ > 0; }

  // Totals since construction or clear_counters(). Safe to read from any thread while another
  // one runs pop() (the element's stats property does, through StreamProcessor).
  int64_t seeds() const { return seeds_.load(std::memory_order_relaxed); }
  int64_t updates() const { return updates_.load(std::memory_order_relaxed); }
  // Zeroes both totals (the element's start: stats count one run).
  void clear_counters() {
    seeds_.store(0, std::memory_order_relaxed);
    updates_.store(0, std::memory_order_relaxed);
  }

 private:
  struct Entry {
    int64_t index;
    Features features;
  };
  const Features& at(int64_t index) const {
    return frames_[index - frames_.front().index].features;
  }

  Mode mode_ = Mode::kStreaming;
  int window_size_ = 1;
  int refresh_interval_ = 0;
  int lookahead_ = 0;
  int lookback_ = 0;

  std::deque<Entry> frames_;  // cached features, indices contiguous
  GroupState state_;
  int64_t next_index_ = 0;     // index the next pushed frame gets
  int64_t next_decode_ = 0;    // oldest pending frame
  int64_t folded_until_ = -1;  // last frame folded into G
  int64_t last_seed_ = -1;     // frame at which G was last seeded
  // Atomic for the readers above; only pop() writes them, so a relaxed load
  // and store (no read-modify-write, no lock) is enough.
  std::atomic<int64_t> seeds_{0};
  std::atomic<int64_t> updates_{0};
  static void bump(std::atomic<int64_t>& n) {
    n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

}  // namespace cosal
