// VGG16 features without pool5 (see vgg16.h).
#include "vgg16.h"

namespace cosal {

namespace nn = torch::nn;

namespace {
// torchvision's cfg "D"; 0 = 2x2 max pool. pool5 is left out so X stays at stride 16.
nn::Sequential make_features() {
  const int64_t cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512};
  nn::Sequential features;
  int64_t in = 3;
  for (int64_t c : cfg) {
    if (c == 0) {
      features->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
    } else {
      features->push_back(nn::Conv2d(nn::Conv2dOptions(in, c, 3).padding(1)));
      features->push_back(nn::ReLU());
      in = c;
    }
  }
  return features;
}
}  // namespace

VGG16Impl::VGG16Impl() : features(register_module("features", make_features())) {}

torch::Tensor VGG16Impl::normalize(const torch::Tensor& images) const {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "VGG16 expects [N, 3, H, W] images, got ",
              images.sizes());
  const auto opts = images.options();
  const torch::Tensor mean = torch::tensor({0.485, 0.456, 0.406}, opts).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({0.229, 0.224, 0.225}, opts).view({1, 3, 1, 1});
  return (images - mean) / std;
}

std::vector<torch::Tensor> VGG16Impl::run(const torch::Tensor& images,
                                          const std::vector<int64_t>& indices) {
  std::vector<torch::Tensor> out;
  torch::Tensor x = normalize(images);
  int64_t i = 0;
  // Stop after the deepest requested layer: no work past it.
  for (auto it = features->begin(); it != features->end() && out.size() < indices.size();
       ++it, ++i) {
    x = it->forward(x);
    if (i == indices[out.size()]) out.push_back(x);
  }
  return out;
}

BackboneFeatures VGG16Impl::forward(const torch::Tensor& images) {
  std::vector<torch::Tensor> t = run(images, {kRelu3_3, kRelu4_3, kRelu5_3});
  return BackboneFeatures{t[2], {t[0], t[1]}};
}

std::vector<torch::Tensor> VGG16Impl::perceptual_features(const torch::Tensor& images) {
  return run(images, {kRelu3_1, kRelu4_1, kRelu5_1});
}

}  // namespace cosal
