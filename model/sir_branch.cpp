#include "sir_branch.h"

#include "conv_ops.h"

namespace cosal {

namespace nn = torch::nn;

SirBranchImpl::SirBranchImpl(int64_t in_channels, int64_t out_channels) {
  auto conv = [](int64_t in, int64_t out) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1));
  };
  conv1 = register_module("conv1", conv(in_channels, out_channels));
  conv2 = register_module("conv2", conv(out_channels, out_channels));
  conv3 = register_module("conv3", conv(out_channels, out_channels));
}

torch::Tensor SirBranchImpl::forward(const torch::Tensor& x) {
  auto s = torch::relu(conv2d(conv1, x));
  s = torch::relu(conv2d(conv2, s));
  return torch::relu(conv2d(conv3, s));
}

}  // namespace cosal
