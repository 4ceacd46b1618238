#include "group_window.h"

#include <algorithm>
#include <vector>

namespace cosal {

void GroupWindow::configure(Mode mode, int window_size, int refresh_interval) {
  mode_ = mode;
  window_size_ = std::max(1, window_size);
  refresh_interval_ = std::max(0, refresh_interval);
  lookahead_ = mode_ == Mode::kWindow ? window_size_ / 2 : 0;
  lookback_ = window_size_ - 1 - lookahead_;
  reset();
}

void GroupWindow::push(Features features) {
  frames_.push_back(Entry{next_index_++, std::move(features)});
}

void GroupWindow::pop(const Model& model, float* mask) {
  if (pending() <= 0) return;
  const int64_t t = next_decode_;
  const int64_t lo = std::max(t - lookback_, frames_.front().index);
  const int64_t hi = std::min(t + lookahead_, next_index_ - 1);
  const bool refresh = refresh_interval_ > 0 && t - last_seed_ >= refresh_interval_;
  if (last_seed_ < 0 || refresh) {
    std::vector<Features> window;
    window.reserve(static_cast<size_t>(hi - lo + 1));
    for (int64_t i = lo; i <= hi; ++i) window.push_back(at(i));
    model.seed(state_, window);
    bump(seeds_);
    last_seed_ = t;
    folded_until_ = hi;
  } else {
    // Frames that entered the window since G was last brought up to date.
    for (int64_t i = std::max(folded_until_ + 1, lo); i <= hi; ++i) {
      model.update(state_, at(i));
      bump(updates_);
    }
    folded_until_ = std::max(folded_until_, hi);
  }
  model.decode(state_, at(t), mask);
  ++next_decode_;
  // No later frame's window reaches further back than this.
  while (!frames_.empty() && frames_.front().index < next_decode_ - lookback_) frames_.pop_front();
}

void GroupWindow::reset() {
  frames_.clear();
  state_.reset();
  next_index_ = 0;
  next_decode_ = 0;
  folded_until_ = -1;
  last_seed_ = -1;
}

}  // namespace cosal
