// A standard convolutional GRU cell (Ballas et al. 2016), the paper's
// comparison for the RCAU: hidden state = group feature G, G_0 = X_1.
//   r = sigmoid(W_r * [G, X]),  u = sigmoid(W_u * [G, X])
//   G~ = tanh(W_h * [r ⊙ G, X]),  G' = u ⊙ G + (1 - u) ⊙ G~
#pragma once

#include <torch/torch.h>

namespace cosal {

class ConvGruImpl : public torch::nn::Module {
 public:
  ConvGruImpl(int64_t channels, int64_t kernel_size = 3);
  torch::Tensor forward(const torch::Tensor& g_prev, const torch::Tensor& x);

  torch::nn::Conv2d gates{nullptr};      // 2C -> 2C (reset, update)
  torch::nn::Conv2d candidate{nullptr};  // 2C -> C
};
TORCH_MODULE(ConvGru);

}  // namespace cosal
