#include "stream_processor.h"

#include <algorithm>

namespace cosal {

StreamProcessor::StreamProcessor(const StreamOptions& options) { configure(options); }

void StreamProcessor::configure(const StreamOptions& options) {
  clear();  // before the window forgets whether it had state
  options_ = options;
  options_.window_size = std::max(1, options_.window_size);
  window_.configure(options_.mode, options_.window_size, resolved_refresh());
}

void StreamProcessor::set_live_options(int refresh_interval, double smoothing,
                                       double scene_cut_threshold) {
  options_.refresh_interval = refresh_interval;
  options_.smoothing = smoothing;
  options_.scene_cut_threshold = scene_cut_threshold;
  window_.set_refresh_interval(resolved_refresh());
}

int StreamProcessor::resolved_refresh() const {
  if (options_.refresh_interval >= 0) return options_.refresh_interval;
  return options_.mode == StreamOptions::Mode::kWindow ? 1 : options_.window_size;
}

void StreamProcessor::push(const Model& model, const RgbView& frame) {
  // Encode first: a frame the model refuses changes nothing.
  auto encoded = model.encode({frame});
  if (encoded.size() != 1 || encoded[0].empty()) throw ModelError("encode returned no features");
  if (options_.scene_cut_threshold > 0.0) {
    const double d = scene_cut_.observe(frame.data, frame.width, frame.height, frame.stride);
    if (d > options_.scene_cut_threshold && window_.has_state()) {
      scene_cuts_.store(scene_cuts() + 1, std::memory_order_relaxed);
      new_group(model);
      // The thumbnail history restarts at the first frame of the new group.
      scene_cut_.observe(frame.data, frame.width, frame.height, frame.stride);
    }
  }
  append(model, std::move(encoded[0]));
}

void StreamProcessor::push(const Model& model, Features features) {
  if (features.empty()) throw ModelError("push: empty Features (encode a frame first)");
  append(model, std::move(features));
}

void StreamProcessor::append(const Model& model, Features features) {
  // G is only defined for frames of one size: a new size is a new group.
  if (window_.has_state() && (features.width() != width_ || features.height() != height_))
    new_group(model);
  width_ = features.width();
  height_ = features.height();
  window_.push(std::move(features));
}

void StreamProcessor::decode_next(const Model& model, float* mask) {
  window_.pop(model, mask);
  const float a = static_cast<float>(std::clamp(options_.smoothing, 0.0, 1.0));
  const size_t n = static_cast<size_t>(width_) * height_;
  if (a <= 0.f) return;
  if (have_previous_ && previous_mask_.size() == n) {
    for (size_t i = 0; i < n; ++i) mask[i] = (1.f - a) * mask[i] + a * previous_mask_[i];
  }
  previous_mask_.assign(mask, mask + n);
  have_previous_ = true;
}

void StreamProcessor::pop(const Model& model, float* mask) {
  if (!completed_.empty()) {
    std::copy(completed_.front().begin(), completed_.front().end(), mask);
    completed_.pop_front();
    return;
  }
  if (window_.pending() > 0) decode_next(model, mask);
}

void StreamProcessor::drain(const Model& model) {
  while (window_.pending() > 0) {
    completed_.emplace_back(static_cast<size_t>(width_) * height_);
    decode_next(model, completed_.back().data());
  }
}

bool StreamProcessor::new_group(const Model& model) {
  drain(model);
  const bool had_state = window_.has_state();
  if (had_state) group_resets_.store(group_resets() + 1, std::memory_order_relaxed);
  window_.reset();
  scene_cut_.reset();
  have_previous_ = false;
  return had_state;
}

void StreamProcessor::clear() {
  if (window_.has_state()) group_resets_.store(group_resets() + 1, std::memory_order_relaxed);
  completed_.clear();
  window_.reset();
  scene_cut_.reset();
  have_previous_ = false;
}

void StreamProcessor::clear_counters() {
  window_.clear_counters();
  scene_cuts_.store(0, std::memory_order_relaxed);
  group_resets_.store(0, std::memory_order_relaxed);
}

}  // namespace cosal
