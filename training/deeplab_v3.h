// DeepLabV3 with a MobileNetV2 encoder (Chen et al. 2017; the TFLite PASCAL
// VOC model deeplabv3_mnv2_pascal_quant.tflite): output stride 16 with
// dilated last stage, and the "ASPP-lite" head: image pooling branch + 1x1
// branch, 1x1 projection, 1x1 logits over 21 PASCAL classes (0 = background).
// Its 1 - P(background) is a strong class-agnostic object prior, and its
// encoder a semantic feature extractor; it expects its native input size
// (513 x 513: foreground IoU on small inputs collapses).
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "mobilenet_v2.h"

namespace cosal {

class DeepLabV3Impl : public torch::nn::Module {
 public:
  static constexpr int64_t kNumClasses = 21;

  DeepLabV3Impl();

  struct Outputs {
    torch::Tensor encoder;  // [N, 320, h, w], h = ceil(H / 16)
    torch::Tensor head;     // [N, 256, h, w] after the projection (ReLU)
    torch::Tensor logits;   // [N, 21, h, w]
  };
  // Images: RGB in [0, 1], [N, 3, H, W], any size (513 x 513 is native).
  Outputs run(const torch::Tensor& images);
  // Logits at stride 16.
  torch::Tensor forward(const torch::Tensor& images) { return run(images).logits; }
  // 1 - P(background), bilinearly resized to the input size: [N, 1, H, W].
  torch::Tensor foreground_probability(const torch::Tensor& images);

  MobileNetV2 encoder{nullptr};           // num_classes 0, output stride 16
  SameConv2d aspp0{nullptr};              // 1x1 320 -> 256, ReLU
  SameConv2d image_pooling{nullptr};      // 1x1 320 -> 256 on the global mean, ReLU
  SameConv2d concat_projection{nullptr};  // 1x1 512 -> 256, ReLU
  SameConv2d logits{nullptr};             // 1x1 256 -> 21
  bool align_corners = true;              // of the final upsampling (from the graph)
};
TORCH_MODULE(DeepLabV3);

}  // namespace cosal
