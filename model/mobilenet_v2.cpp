// MobileNetV2 1.0 as in the TFLite graph (see mobilenet_v2.h). The TFLite
// import lives here too: it maps the graph's convolutions onto these layers.
#include "mobilenet_v2.h"

#include "conv_ops.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cosal {

namespace F = torch::nn::functional;

SameConv2dImpl::SameConv2dImpl(int64_t in, int64_t out, int64_t kernel_, int64_t stride_,
                               int64_t groups_, bool relu6_, int64_t dilation_)
    : in_channels(in),
      out_channels(out),
      kernel(kernel_),
      stride(stride_),
      groups(groups_),
      dilation(dilation_),
      relu6(relu6_) {
  const int64_t fan_in = in / groups * kernel * kernel;
  // He initialisation: only used when no pretrained weights are loaded.
  weight = register_parameter(
      "weight", torch::randn({out, in / groups, kernel, kernel}) * std::sqrt(2.0 / fan_in));
  bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor SameConv2dImpl::forward(const torch::Tensor& x) {
  const int64_t extent = dilation * (kernel - 1) + 1;
  // Inference only (no autograd): in-place activations and the layouts
  // below; training keeps the plain out-of-place graph.
  const bool inference = !torch::GradMode::is_enabled();
  torch::Tensor y;
  if (kernel == 1 && stride == 1 && groups == 1 && onednn_applies(x, weight)) {
    // LibTorch 1.13 sends batch < 16 pointwise convolutions on ONE thread to
    // im2col + BLAS (Debian's reference BLAS: ~10x slower); call oneDNN
    // directly, as it does itself with 2+ threads. Differentiable too.
    y = at::mkldnn_convolution(x, weight, bias, {0, 0}, {1, 1}, {1, 1}, 1);
  } else if (stride == 1) {
    // Odd kernel, stride 1: SAME is symmetric.
    const int64_t p = (extent - 1) / 2;
    y = torch::conv2d(x, weight, bias, at::IntArrayRef{1, 1}, at::IntArrayRef{p, p},
                      at::IntArrayRef{dilation, dilation}, groups);
  } else {
    auto total = [&](int64_t in) {
      const int64_t out = (in + stride - 1) / stride;
      return std::max<int64_t>((out - 1) * stride + extent - in, 0);
    };
    const int64_t th = total(x.size(2)), tw = total(x.size(3));
    if (inference && groups > 1 && kernel == 3 && stride == 2 && dilation == 1 && th == 1 &&
        tw == 1 && onednn_applies(x, weight)) {
      // Depthwise 3x3/2 on an even size: SAME pads 0 before and 1 after. The
      // same result without copying the input into a padded one: a 4x4
      // kernel with a leading zero row and column and symmetric padding 1
      // (output j then reads rows 2j..2j+2 with the 3x3 weights, the last
      // one the zero pad). Bit-identical; 12.6 -> 0.5 ms for block 1
      // (96 channels at 112x112, 1 thread), where LibTorch's path for the
      // odd-sized padded input was slowest.
      y = at::mkldnn_convolution(x, F::pad(weight, F::PadFuncOptions({1, 0, 1, 0})), bias, {1, 1},
                                 {2, 2}, {1, 1}, groups);
    } else {
      torch::Tensor padded = x;
      if (th > 0 || tw > 0) {
        padded = F::pad(x, F::PadFuncOptions({tw / 2, tw - tw / 2, th / 2, th - th / 2}));
      }
      y = torch::conv2d(padded, weight, bias, at::IntArrayRef{stride, stride},
                        at::IntArrayRef{0, 0}, at::IntArrayRef{dilation, dilation}, groups);
    }
  }
  if (!relu6) return y;
  return inference ? y.clamp_(0.0, 6.0) : torch::clamp(y, 0.0, 6.0);
}

InvertedResidualImpl::InvertedResidualImpl(int64_t in, int64_t out, int64_t stride,
                                           int64_t expand_ratio, int64_t dilation)
    : residual_(stride == 1 && in == out) {
  const int64_t hidden = in * expand_ratio;
  if (expand_ratio != 1) expand = register_module("expand", SameConv2d(in, hidden, 1, 1, 1, true));
  depthwise =
      register_module("depthwise", SameConv2d(hidden, hidden, 3, stride, hidden, true, dilation));
  project = register_module("project", SameConv2d(hidden, out, 1, 1, 1, false));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = has_expand() ? expand->forward(x) : x;
  y = project->forward(depthwise->forward(y));
  if (!residual_) return y;
  return torch::GradMode::is_enabled() ? y + x : y.add_(x);
}

// Input defaults are the TFLite classifier's quantisation (scale 1/128, zero
// point 128): x = (255 * img - 128) / 128, about [-1, 1].
MobileNetV2Impl::MobileNetV2Impl(int64_t num_classes_, int64_t output_stride_, int64_t num_blocks)
    : num_classes(num_classes_),
      output_stride(output_stride_),
      input_scale(register_buffer("input_scale", torch::full({1, 3, 1, 1}, 255.0 / 128.0))),
      input_shift(register_buffer("input_shift", torch::full({1, 3, 1, 1}, -1.0))),
      stem(register_module("stem", SameConv2d(3, 32, 3, 2, 1, true))),
      blocks(register_module("blocks", torch::nn::ModuleList())),
      head(num_classes_ > 0 ? register_module("head", SameConv2d(320, 1280, 1, 1, 1, true))
                            : SameConv2d(nullptr)),
      logits(num_classes_ > 0
                 ? register_module("logits", SameConv2d(1280, num_classes_, 1, 1, 1, false))
                 : SameConv2d(nullptr)) {
  TORCH_CHECK(output_stride == 8 || output_stride == 16 || output_stride == 32,
              "MobileNetV2: output_stride 8, 16 or 32");
  TORCH_CHECK(num_blocks == kNumBlocks || (num_blocks == kStride16Block + 1 && num_classes == 0),
              "MobileNetV2: num_blocks must be 17, or 13 without a classifier");
  // (expansion t, channels c, repeats n, first stride s) from the paper's Table 2.
  const int64_t settings[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  // DeepLab's atrous trick (TF-slim's mobilenet with output_stride): once
  // the output stride is reached, a stride-2 block keeps stride 1 at the
  // current rate and every later depthwise conv is dilated by twice it
  // (output stride 16: blocks 14-16 at 2; 8: blocks 7-12 at 2, 14-16 at 4).
  int64_t in = 32, stride = 2, rate = 1;
  for (const auto& s : settings) {
    for (int64_t i = 0; i < s[2]; ++i) {
      int64_t block_stride = i == 0 ? s[3] : 1;
      int64_t block_dilation = rate;
      if (stride * block_stride > output_stride) {
        block_stride = 1;
        rate *= 2;
      }
      if (static_cast<int64_t>(blocks->size()) == num_blocks) break;
      blocks->push_back(InvertedResidual(in, s[1], block_stride, s[0], block_dilation));
      stride *= block_stride;
      in = s[1];
    }
  }
}

torch::Tensor MobileNetV2Impl::normalize(const torch::Tensor& images) const {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3,
              "MobileNetV2 expects [N, 3, H, W] images, got ", images.sizes());
  return images * input_scale + input_shift;
}

std::vector<torch::Tensor> MobileNetV2Impl::taps(const torch::Tensor& images, int64_t max_stride) {
  TORCH_CHECK(
      max_stride == 16 || (max_stride == 32 && static_cast<int64_t>(blocks->size()) == kNumBlocks),
      "MobileNetV2 taps: max_stride must be 16, or 32 with all 17 blocks");
  const int64_t last = max_stride == 32 ? kStride32Block : kStride16Block;
  std::vector<torch::Tensor> out;
  torch::Tensor x = normalize(images);
  // Inference on the CPU runs channels-last (NHWC): oneDNN's depthwise
  // convolutions on NCHW tensors are 10-40x slower at 56x56 and up (e.g. 32
  // channels at 112x112: 8.7 vs 0.2 ms, 1 thread); the whole stride-16
  // backbone went from ~35 to ~16 ms per 224x224 frame (same load). Outputs
  // are then channels-last too; values agree to ~1e-5 (summation order).
  if (!torch::GradMode::is_enabled() && x.is_cpu() && x.dim() == 4)
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
  x = stem->forward(x);
  for (int64_t i = 0; i <= last; ++i) {
    x = blocks[static_cast<size_t>(i)]->as<InvertedResidualImpl>()->forward(x);
    if (i == kStride4Block || i == kStride8Block || i == kStride16Block || i == kStride32Block) {
      out.push_back(x);
    }
  }
  return out;
}

torch::Tensor MobileNetV2Impl::run_blocks(torch::Tensor x, int64_t first, int64_t last) {
  TORCH_CHECK(0 <= first && first <= last && last < static_cast<int64_t>(blocks->size()),
              "MobileNetV2 run_blocks: bad block range ", first, "..", last);
  for (int64_t i = first; i <= last; ++i)
    x = blocks[static_cast<size_t>(i)]->as<InvertedResidualImpl>()->forward(x);
  return x;
}

BackboneFeatures MobileNetV2Impl::forward(const torch::Tensor& images) {
  std::vector<torch::Tensor> t = taps(images, 16);
  return BackboneFeatures{t[2], {t[0], t[1]}};
}

std::vector<torch::Tensor> MobileNetV2Impl::perceptual_features(const torch::Tensor& images) {
  return taps(images, 16);
}

torch::Tensor MobileNetV2Impl::classify(const torch::Tensor& images) {
  TORCH_CHECK(!logits.is_empty(), "MobileNetV2: built without a classifier (num_classes = 0)");
  torch::Tensor x = head->forward(taps(images, 32)[3]);
  // The graph's 7x7 VALID average pool at 224^2 is a global mean.
  x = x.mean({2, 3}, /*keepdim=*/true);
  return logits->forward(x).flatten(1);
}

}  // namespace cosal
