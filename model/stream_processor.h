// StreamProcessor: a video stream in, one co-saliency mask per frame out,
// in order. The one implementation of how frames form the group: the
// sliding-window group and its re-seed rule (GroupWindow), the streaming and
// window modes, temporal smoothing, and the new-group policy (scene cuts,
// and resets the caller asks for). The GStreamer element, cosal-infer,
// cosal-batch (through the element), the benchmark and the trainer's
// validation all run frames through it, so what the tools score is what
// users get. Free of GStreamer and of LibTorch: it talks to engine.h.
//
// Use: push() each frame (packed RGB at the size the model runs it); take
// masks with pop() while ready(); at the end of a stream drain() and pop the
// rest. Every pushed frame yields exactly one mask, in push order, so a
// caller keeps its own per-frame data (buffers, names) in a FIFO beside it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine.h"
#include "group_window.h"
#include "scene_cut.h"

namespace cosal {

struct StreamOptions {
  using Mode = GroupWindow::Mode;
  Mode mode = Mode::kStreaming;
  int window_size = 8;
  // Re-seed G from the window every this many frames; 0 = never; -1 = the
  // default of the mode: 1 in window mode (each frame against exactly its
  // window), window_size in streaming mode.
  int refresh_interval = -1;
  // Weight of the previous mask in an exponential moving average (0 = off).
  double smoothing = 0.0;
  // A new group starts where consecutive 16x16 luma thumbnails differ by
  // more than this fraction of full scale (0 = off).
  double scene_cut_threshold = 0.0;
};

class StreamProcessor {
 public:
  explicit StreamProcessor(const StreamOptions& options = {});

  // Mode and window size: forgets everything (a new group, nothing pending).
  void configure(const StreamOptions& options);
  // Refresh interval, smoothing and scene-cut threshold: take effect from
  // the next frame; G, pending frames and the smoothing history are kept.
  void set_live_options(int refresh_interval, double smoothing, double scene_cut_threshold);
  const StreamOptions& options() const { return options_; }

  // Encodes `frame` with `model` and appends it. A scene cut first completes
  // the frames still pending in the old group (their masks come out first),
  // then starts a new group. Throws ModelError (nothing is appended then).
  void push(const Model& model, const RgbView& frame);
  // The same with features the caller encoded with `model` (a validation
  // that caches a frozen backbone's output); no scene-cut detection, which
  // needs pixels.
  void push(const Model& model, Features features);

  // Frames pushed whose masks have not been popped yet.
  int64_t pending() const { return static_cast<int64_t>(completed_.size()) + window_.pending(); }
  // Whether the oldest pending frame's mask can be popped now: its window
  // is complete, or a new group completed it.
  bool ready() const { return !completed_.empty() || window_.ready(); }
  // The oldest pending frame's mask: width*height floats in [0, 1] at the
  // frame's pushed size (mask_width() x mask_height()). Call when ready().
  void pop(const Model& model, float* mask);
  // Completes every pending frame with the group it has (end of stream, or
  // before the caller starts a new group): all of them become ready.
  void drain(const Model& model);
  // Starts a new group: drains first, so no pushed frame is lost. Returns
  // whether the old group had any state (a reset that discarded something).
  bool new_group(const Model& model);
  // Forgets everything, pending frames included (a flush); counted in
  // group_resets() when it discarded state.
  void clear();

  int mask_width() const { return width_; }
  int mask_height() const { return height_; }

  // Totals since construction or clear_counters(); safe to read from any
  // thread while another one pushes and pops (the element's stats).
  int64_t seeds() const { return window_.seeds(); }
  int64_t updates() const { return window_.updates(); }
  int64_t scene_cuts() const { return scene_cuts_.load(std::memory_order_relaxed); }
  int64_t group_resets() const { return group_resets_.load(std::memory_order_relaxed); }
  void clear_counters();

 private:
  void append(const Model& model, Features features);
  void decode_next(const Model& model, float* mask);
  void smooth(std::vector<float>& mask);
  int resolved_refresh() const;

  StreamOptions options_;
  GroupWindow window_;
  SceneCut scene_cut_;
  // Masks of frames completed by a new group, oldest first.
  std::deque<std::vector<float>> completed_;
  std::vector<float> previous_mask_;  // smoothing history
  bool have_previous_ = false;
  int width_ = 0, height_ = 0;
  std::atomic<int64_t> scene_cuts_{0};
  std::atomic<int64_t> group_resets_{0};
};

}  // namespace cosal
