// MobileNetV2 1.0 (Sandler et al., CVPR 2018) as the TFLite ImageNet
// classifier computes it: batch norm folded into conv biases, ReLU6, and
// TensorFlow "SAME" padding (asymmetric for stride 2). The paper's X_n is the
// stride-16 output (96 channels).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"

namespace cosal {

// A convolution with TensorFlow's SAME padding: out = ceil(in / stride), the
// odd pixel of padding goes after (bottom/right), which matters for stride 2.
// Parameters: "weight" [out, in/groups, k, k] and "bias" [out].
class SameConv2dImpl : public torch::nn::Module {
 public:
  SameConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                 bool relu6, int64_t dilation = 1);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_channels, out_channels, kernel, stride, groups, dilation;
  bool relu6;
  torch::Tensor weight, bias;
};
TORCH_MODULE(SameConv2d);

// Inverted residual bottleneck: 1x1 expand (absent when t = 1), 3x3
// depthwise, 1x1 linear projection; residual add when shapes allow.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio,
                       int64_t dilation = 1);
  torch::Tensor forward(const torch::Tensor& x);

  bool has_expand() const { return !expand.is_empty(); }
  bool residual() const { return residual_; }

  SameConv2d expand{nullptr};  // 1x1, ReLU6
  SameConv2d depthwise{nullptr};
  SameConv2d project{nullptr};  // 1x1, linear

 private:
  bool residual_;
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2Impl : public BackboneImpl {
 public:
  static constexpr int64_t kNumBlocks = 17;
  // Indices into `blocks` of the last block at stride 4, 8, 16 and 32.
  static constexpr int64_t kStride4Block = 2, kStride8Block = 5, kStride16Block = 12,
                           kStride32Block = 16;

  // num_classes = 0 builds no classifier (head, logits). output_stride = 16
  // is DeepLabV3's variant: the last stage (blocks 13-16) keeps stride 16,
  // blocks 14-16 use dilation 2 in their depthwise convs; output_stride = 8
  // also keeps blocks 6-12 at stride 8 (dilation 2 from block 7), the same
  // weights giving X on a grid twice as fine. num_blocks = 13
  // (with num_classes = 0) stops at stride 16: what make_backbone builds, as
  // X needs nothing deeper (its weights load from a full network's state
  // with load_module_state(..., allow_unused = true)).
  explicit MobileNetV2Impl(int64_t num_classes = 1001, int64_t output_stride = 32,
                           int64_t num_blocks = kNumBlocks);

  // X = stride 16 (96 ch); skips = {stride 4 (24 ch), stride 8 (32 ch)}.
  BackboneFeatures forward(const torch::Tensor& images) override;
  // The bottleneck outputs at stride 4, 8, 16 (24, 32, 96 channels): the
  // depths of VGG's relu3_1 / relu4_1 / relu5_1.
  std::vector<torch::Tensor> perceptual_features(const torch::Tensor& images) override;
  int64_t out_channels() const override { return 96; }
  // X is block 12's output: stride 16, or 8 when built with output_stride 8.
  int64_t stride() const override { return std::min<int64_t>(16, output_stride); }
  std::vector<int64_t> skip_channels() const override { return {24, 32}; }
  std::vector<int64_t> skip_strides() const override { return {4, 8}; }
  std::string name() const override {
    return output_stride == 8 ? "mobilenet_v2_os8" : "mobilenet_v2";
  }

  // RGB [0, 1] -> the network's input range (the TFLite input quantisation).
  torch::Tensor normalize(const torch::Tensor& images) const;
  // Block outputs at strides 4, 8, 16 and, when max_stride is 32, also the
  // last block's output (320 ch; at stride 16 when output_stride is 16; needs
  // all 17 blocks). Runs only as far as needed.
  std::vector<torch::Tensor> taps(const torch::Tensor& images, int64_t max_stride = 16);
  // Blocks first..last (inclusive) on an intermediate activation: lets a
  // trainer cache the stride-8 tap and fine-tune only the blocks after it.
  torch::Tensor run_blocks(torch::Tensor x, int64_t first, int64_t last);
  // The whole classifier: [N, num_classes] logits (index 0 = background).
  torch::Tensor classify(const torch::Tensor& images);

  int64_t num_classes;
  int64_t output_stride;
  // x = images * input_scale + input_shift, per channel [1, 3, 1, 1].
  torch::Tensor input_scale, input_shift;
  SameConv2d stem{nullptr};  // 3x3 stride 2, 3 -> 32, ReLU6
  torch::nn::ModuleList blocks{nullptr};
  SameConv2d head{nullptr};    // 1x1 320 -> 1280, ReLU6 (absent when num_classes = 0)
  SameConv2d logits{nullptr};  // 1x1 1280 -> num_classes (after global average pooling)
};
TORCH_MODULE(MobileNetV2);

}  // namespace cosal
