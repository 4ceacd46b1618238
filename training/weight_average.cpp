#include "weight_average.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace cosal::train {

WeightAverage::WeightAverage(std::vector<torch::Tensor> params, double decay)
    : params_(std::move(params)), decay_(decay) {
  if (!(decay >= 0 && decay < 1))
    throw std::invalid_argument("weight average decay must be in [0, 1), not " +
                                std::to_string(decay));
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) averaged_.push_back(p.detach().clone());
}

double WeightAverage::decay_at(int64_t steps_done) const {
  const double n = static_cast<double>(std::max<int64_t>(steps_done, 0));
  return std::min(decay_, (1.0 + n) / (10.0 + n));
}

void WeightAverage::update(int64_t steps_done) {
  torch::NoGradGuard no_grad;
  const double d = decay_at(steps_done);
  for (size_t i = 0; i < params_.size(); ++i)
    averaged_[i].mul_(d).add_(params_[i].detach(), 1.0 - d);
}

void WeightAverage::swap() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor own = params_[i].detach().clone();
    params_[i].detach().copy_(averaged_[i]);
    averaged_[i].copy_(own);
  }
}

void WeightAverage::set_averaged(const std::vector<torch::Tensor>& values) {
  if (values.size() != params_.size())
    throw std::runtime_error("weight average: " + std::to_string(values.size()) +
                             " tensors, the model trains " + std::to_string(params_.size()));
  for (size_t i = 0; i < values.size(); ++i)
    if (!values[i].sizes().equals(params_[i].sizes()))
      throw std::runtime_error("weight average: tensor " + std::to_string(i) +
                               " has the wrong shape");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < values.size(); ++i) averaged_[i].copy_(values[i]);
}

}  // namespace cosal::train
