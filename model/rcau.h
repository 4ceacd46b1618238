// The Recurrent Co-Attention Unit (RCAU) of the paper:
//   D   = sigmoid(W_d [G_{n-1}, X_n])                 reset gate (2C -> C)
//   X~  = X_n ⊙ D
//   Z_n = G_{n-1} - X_n
//   Z_s = W2s ReLU(W1s avg_c(Z_n))                     spatial attention [1,1,h,w]
//   Z_c = W_c avg_hw(Z_n)                              channel attention [1,C,1,1]
//   Z   = sigmoid(Z_s ⊙ Z_c)                           update gate, broadcast to [1,C,h,w]
//   G_n = Z ⊙ G_{n-1} + (1 - Z) ⊙ X~
// Ablations switch off the reset gate (X~ = X) or one of the attentions
// (Z = sigmoid(Z_s) or sigmoid(Z_c)). See model/README.md for the choices.
#pragma once

#include <torch/torch.h>

namespace cosal {

struct RcauOptions {
  int64_t channels = 96;
  // The spatial attention's FC acts on a fixed grid (the native feature map
  // size); other sizes are pooled to it and the result resized back.
  int64_t grid_height = 14, grid_width = 14;
  int64_t spatial_hidden = 0;  // 0: grid cells / 4 (at least 8)
  bool reset_gate = true;
  bool spatial_attention = true;
  bool channel_attention = true;
};

// Every intermediate of one step, for tests and inspection.
struct RcauGates {
  torch::Tensor d;        // reset gate [1,C,h,w] (undefined without it)
  torch::Tensor x_tilde;  // X~ [1,C,h,w]
  torch::Tensor z_s;      // [1,1,h,w] (undefined without spatial attention)
  torch::Tensor z_c;      // [1,C,1,1] (undefined without channel attention)
  torch::Tensor z;        // update gate, [1,C,h,w]
  torch::Tensor g;        // G_n [1,C,h,w]
};

class RcauImpl : public torch::nn::Module {
 public:
  explicit RcauImpl(const RcauOptions& options);
  // G_n from G_{n-1} and X_n, both [B,C,h,w] (B = 1 for one group; larger B
  // steps B independent groups at once).
  torch::Tensor forward(const torch::Tensor& g_prev, const torch::Tensor& x);
  RcauGates gates(const torch::Tensor& g_prev, const torch::Tensor& x);
  const RcauOptions& options() const { return options_; }

  // Public so tests can set weights by hand.
  torch::nn::Conv2d w_d{nullptr};  // 1x1, 2C -> C
  torch::nn::Linear w1s{nullptr};  // grid cells -> hidden
  torch::nn::Linear w2s{nullptr};  // hidden -> grid cells
  torch::nn::Linear w_c{nullptr};  // C -> C

 private:
  torch::Tensor spatial(const torch::Tensor& z);  // [B,C,h,w] -> [B,1,h,w]
  RcauOptions options_;
};
TORCH_MODULE(Rcau);

}  // namespace cosal
