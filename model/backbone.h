// The pretrained CNN that gives the paper's semantic features X_n.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cosal {

struct BackboneFeatures {
  torch::Tensor x;                   // X_n: [N, C, H/stride, W/stride]
  std::vector<torch::Tensor> skips;  // finer taps for sharp edges, finest first (e.g. stride 4, 8)
};

// Input images are RGB in [0, 1], [N, 3, H, W]; each backbone applies its own
// normalisation. H and W must be multiples of stride().
class BackboneImpl : public torch::nn::Module {
 public:
  virtual BackboneFeatures forward(const torch::Tensor& images) = 0;
  // Frozen activations used by the co-perceptual loss (φ in the paper),
  // shallow to deep (the paper uses VGG relu3_1, relu4_1, relu5_1).
  virtual std::vector<torch::Tensor> perceptual_features(const torch::Tensor& images) = 0;
  virtual int64_t out_channels() const = 0;
  virtual int64_t stride() const = 0;
  virtual std::vector<int64_t> skip_channels() const = 0;
  virtual std::vector<int64_t> skip_strides() const = 0;
  virtual std::string name() const = 0;
};

// name: "mobilenet_v2" (X at stride 16, 96 channels), "mobilenet_v2_os8"
// (the same with X at stride 8, dilated; same weights), "vgg16" (conv5_3,
// stride 16, 512 channels) or "tiny" (a small random CNN for fast tests, stride
// 16, 32 channels); std::invalid_argument otherwise. Randomly initialised; load weights separately.
std::shared_ptr<BackboneImpl> make_backbone(const std::string& name);

}  // namespace cosal
