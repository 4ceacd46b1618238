#include "conv_gru.h"

#include "conv_ops.h"

namespace cosal {

namespace nn = torch::nn;

ConvGruImpl::ConvGruImpl(int64_t channels, int64_t kernel_size)
    : gates(register_module("gates",
                            nn::Conv2d(nn::Conv2dOptions(2 * channels, 2 * channels, kernel_size)
                                           .padding(kernel_size / 2)))),
      candidate(register_module(
          "candidate",
          nn::Conv2d(
              nn::Conv2dOptions(2 * channels, channels, kernel_size).padding(kernel_size / 2)))) {}

torch::Tensor ConvGruImpl::forward(const torch::Tensor& g_prev, const torch::Tensor& x) {
  auto ru = torch::sigmoid(conv2d(gates, torch::cat({g_prev, x}, 1))).chunk(2, 1);
  const auto& r = ru[0];
  const auto& u = ru[1];
  auto g_cand = torch::tanh(conv2d(candidate, torch::cat({r * g_prev, x}, 1)));
  return u * g_prev + (1 - u) * g_cand;
}

}  // namespace cosal
