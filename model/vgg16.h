// VGG16 (Simonyan & Zisserman, 2015) conv1_1..conv5_3, the backbone of the
// RCAN paper. Parameters are named like torchvision's vgg16 ("features.<i>.
// weight/bias", same indices), so its ImageNet state dict loads directly
// (tools/vgg16_to_safetensors.py writes it as safetensors).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"

namespace cosal {

class VGG16Impl : public BackboneImpl {
 public:
  // Indices into `features` of the ReLUs we tap.
  static constexpr int64_t kRelu3_1 = 11, kRelu3_3 = 15, kRelu4_1 = 18, kRelu4_3 = 22,
                           kRelu5_1 = 25, kRelu5_3 = 29;

  VGG16Impl();

  // X = relu5_3 at stride 16 (pool5 dropped, 512 ch); skips = {relu3_3
  // (stride 4, 256 ch), relu4_3 (stride 8, 512 ch)}.
  BackboneFeatures forward(const torch::Tensor& images) override;
  // relu3_1, relu4_1, relu5_1 (the paper's co-perceptual loss layers).
  std::vector<torch::Tensor> perceptual_features(const torch::Tensor& images) override;
  int64_t out_channels() const override { return 512; }
  int64_t stride() const override { return 16; }
  std::vector<int64_t> skip_channels() const override { return {256, 512}; }
  std::vector<int64_t> skip_strides() const override { return {4, 8}; }
  std::string name() const override { return "vgg16"; }

  // RGB [0, 1] -> ImageNet mean/std normalised (constants, not buffers, so
  // the state is exactly torchvision's features.*).
  torch::Tensor normalize(const torch::Tensor& images) const;

  // torchvision's features[0..29]: conv/ReLU/max-pool, without pool5.
  torch::nn::Sequential features{nullptr};

 private:
  // Runs features[0..last] and returns the outputs at `indices` (ascending).
  std::vector<torch::Tensor> run(const torch::Tensor& images, const std::vector<int64_t>& indices);
};
TORCH_MODULE(VGG16);

}  // namespace cosal
