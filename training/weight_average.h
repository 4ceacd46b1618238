// An exponential moving average of the trained weights (Polyak averaging, as
// TensorFlow's ExponentialMovingAverage): validation and the final model use
// the average, which is smoother than the last step's weights when one group
// per step makes the gradient noisy.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace cosal::train {

class WeightAverage {
 public:
  // Averages `params` (the trained ones; they stay owned by their module)
  // with decay `decay` in [0, 1). Starts from their current values.
  WeightAverage(std::vector<torch::Tensor> params, double decay);

  // The decay used after `steps_done` optimizer steps: min(decay,
  // (1 + n) / (10 + n)), so the average forgets its random start quickly.
  double decay_at(int64_t steps_done) const;

  // Folds the parameters' current values in, after optimizer step
  // `steps_done` (1 for the first).
  void update(int64_t steps_done);

  // Exchanges the averaged values with the parameters' own: call once to
  // validate or save the average, again to train on.
  void swap();

  // For checkpoints: the averaged values, and restoring them.
  const std::vector<torch::Tensor>& averaged() const { return averaged_; }
  // Throws std::runtime_error when the count or a shape does not match.
  void set_averaged(const std::vector<torch::Tensor>& values);

 private:
  std::vector<torch::Tensor> params_, averaged_;
  double decay_;
};

// Swaps the average in for a scope (validation, saving) and back out,
// also when that scope throws. A null average does nothing.
class AverageSwappedIn {
 public:
  explicit AverageSwappedIn(WeightAverage* average) : average_(average) {
    if (average_) average_->swap();
  }
  ~AverageSwappedIn() {
    if (average_) average_->swap();
  }
  AverageSwappedIn(const AverageSwappedIn&) = delete;
  AverageSwappedIn& operator=(const AverageSwappedIn&) = delete;

 private:
  WeightAverage* average_;
};

}  // namespace cosal::train
