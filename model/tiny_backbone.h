// A small randomly initialised CNN with the backbone interface, so tests of
// everything downstream (RCAU, decoder, engine, element) run in milliseconds.
// Not a pretrained network: its features carry no semantics.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"

namespace cosal {

class TinyBackboneImpl : public BackboneImpl {
 public:
  TinyBackboneImpl();

  // X at stride 16 (32 ch); skips at stride 4 (8 ch) and 8 (16 ch).
  BackboneFeatures forward(const torch::Tensor& images) override;
  // The stride 4, 8 and 16 activations.
  std::vector<torch::Tensor> perceptual_features(const torch::Tensor& images) override;
  int64_t out_channels() const override { return 32; }
  int64_t stride() const override { return 16; }
  std::vector<int64_t> skip_channels() const override { return {8, 16}; }
  std::vector<int64_t> skip_strides() const override { return {4, 8}; }
  std::string name() const override { return "tiny"; }

  // 3x3 stride-2 convolutions, ReLU after each.
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};

 private:
  std::vector<torch::Tensor> taps(const torch::Tensor& images);
};
TORCH_MODULE(TinyBackbone);

}  // namespace cosal
