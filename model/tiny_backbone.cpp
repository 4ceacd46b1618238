// The tiny test backbone (see tiny_backbone.h).
#include "tiny_backbone.h"

namespace cosal {

namespace nn = torch::nn;

namespace {
nn::Conv2d stride2(int64_t in, int64_t out) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1));
}
}  // namespace

TinyBackboneImpl::TinyBackboneImpl()
    : conv1(register_module("conv1", stride2(3, 8))),
      conv2(register_module("conv2", stride2(8, 8))),
      conv3(register_module("conv3", stride2(8, 16))),
      conv4(register_module("conv4", stride2(16, 32))) {}

std::vector<torch::Tensor> TinyBackboneImpl::taps(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3,
              "tiny backbone expects [N, 3, H, W] images, got ", images.sizes());
  // Centre [0, 1] inputs so the random filters see zero-mean data.
  torch::Tensor x = torch::relu(conv1->forward((images - 0.5) * 4.0));
  torch::Tensor s4 = torch::relu(conv2->forward(x));
  torch::Tensor s8 = torch::relu(conv3->forward(s4));
  torch::Tensor s16 = torch::relu(conv4->forward(s8));
  return {s4, s8, s16};
}

BackboneFeatures TinyBackboneImpl::forward(const torch::Tensor& images) {
  std::vector<torch::Tensor> t = taps(images);
  return BackboneFeatures{t[2], {t[0], t[1]}};
}

std::vector<torch::Tensor> TinyBackboneImpl::perceptual_features(const torch::Tensor& images) {
  return taps(images);
}

}  // namespace cosal
