// DeepLabV3-MobileNetV2 (see deeplab_v3.h).
#include "deeplab_v3.h"

namespace cosal {

namespace F = torch::nn::functional;

DeepLabV3Impl::DeepLabV3Impl()
    : encoder(register_module("encoder", MobileNetV2(/*num_classes=*/0, /*output_stride=*/16))),
      aspp0(register_module("aspp0", SameConv2d(320, 256, 1, 1, 1, false))),
      image_pooling(register_module("image_pooling", SameConv2d(320, 256, 1, 1, 1, false))),
      concat_projection(register_module("concat_projection", SameConv2d(512, 256, 1, 1, 1, false))),
      logits(register_module("logits", SameConv2d(256, kNumClasses, 1, 1, 1, false))) {}

DeepLabV3Impl::Outputs DeepLabV3Impl::run(const torch::Tensor& images) {
  Outputs out;
  out.encoder = encoder->taps(images, 32).back();
  const torch::Tensor branch = torch::relu(aspp0->forward(out.encoder));
  // Image pooling: a global mean, a 1x1 conv, then "resized" back (a 1x1 map
  // resized bilinearly is a broadcast).
  const torch::Tensor pooled =
      torch::relu(image_pooling->forward(out.encoder.mean({2, 3}, /*keepdim=*/true)))
          .expand_as(branch);
  out.head = torch::relu(concat_projection->forward(torch::cat({pooled, branch}, 1)));
  out.logits = logits->forward(out.head);
  return out;
}

torch::Tensor DeepLabV3Impl::foreground_probability(const torch::Tensor& images) {
  const torch::Tensor logit = forward(images);
  const torch::Tensor up =
      F::interpolate(logit, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{images.size(2), images.size(3)})
                                .mode(torch::kBilinear)
                                .align_corners(align_corners));
  return 1.0 - torch::softmax(up, 1).slice(1, 0, 1);
}

}  // namespace cosal
