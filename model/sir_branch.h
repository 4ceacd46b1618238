// The single-image representation (SIR) branch: three 3x3 conv + ReLU layers
// on X_n giving S_n, the per-image cue the decoder combines with G.
#pragma once

#include <torch/torch.h>

namespace cosal {

class SirBranchImpl : public torch::nn::Module {
 public:
  SirBranchImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);  // [N,C,h,w] -> [N,out,h,w]

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
};
TORCH_MODULE(SirBranch);

}  // namespace cosal
