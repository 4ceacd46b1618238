// RCAN, the Recurrent Co-Attention Network: backbone -> X_n; SIR branch ->
// S_n; RCAU over the group -> G_N; decoder([S_n, G_N]) -> mask logits M_n.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "backbone.h"
#include "conv_gru.h"
#include "decoder.h"
#include "rcan_config.h"
#include "rcau.h"
#include "sir_branch.h"

namespace cosal {

struct RcanOutput {
  torch::Tensor logits;  // [N,1,H,W] at input resolution
  torch::Tensor masks;   // sigmoid(logits)
  torch::Tensor group;   // G_N, [1,C,h,w] (undefined for the baseline)
};

class RcanImpl : public torch::nn::Module {
 public:
  explicit RcanImpl(const RcanConfig& cfg);
  RcanOutput forward(const torch::Tensor& images);  // one group [N,3,H,W], RGB in [0,1]
  // From cached backbone features (frozen-backbone training): same as forward.
  RcanOutput forward_features(const BackboneFeatures& f, int64_t height, int64_t width);
  BackboneFeatures encode(const torch::Tensor& images);
  // One RCAU (or ConvGRU) step. g_prev undefined -> returns x (G_0 = X_1). x: [1,C,h,w]
  torch::Tensor group_step(const torch::Tensor& g_prev, const torch::Tensor& x);
  // G_N over the N frames of x [N,C,h,w], in order (undefined for the baseline).
  torch::Tensor group_feature(const torch::Tensor& x);
  // Logits [N,1,H,W] for the frames of f against g ([1,C,h,w], broadcast to N); baseline ignores g.
  torch::Tensor decode(const BackboneFeatures& f, const torch::Tensor& g, int64_t height,
                       int64_t width);
  const RcanConfig& config() const { return cfg_; }

  std::shared_ptr<BackboneImpl> backbone;  // registered as "backbone"
  SirBranch sir{nullptr};                  // "sir"
  Rcau rcau{nullptr};                      // "rcau" (rcau* variants)
  ConvGru convgru{nullptr};                // "convgru" (convgru variant)
  Decoder decoder{nullptr};                // "decoder"

 private:
  RcanConfig cfg_;
};
TORCH_MODULE(Rcan);

}  // namespace cosal
