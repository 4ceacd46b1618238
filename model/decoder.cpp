#include "decoder.h"

#include "conv_ops.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cosal {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1));
}

torch::Tensor upsample_x2(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

// ReLU of a tensor nothing else holds: in place when no gradient is
// recorded (one allocation less per layer at inference).
torch::Tensor relu_fresh(torch::Tensor x) {
  return torch::GradMode::is_enabled() ? torch::relu(x) : x.relu_();
}

}  // namespace

SeparableConvImpl::SeparableConvImpl(int64_t in, int64_t out, int64_t dilation)
    : depthwise(register_module(
          "depthwise",
          nn::Conv2d(
              nn::Conv2dOptions(in, in, 3).padding(dilation).dilation(dilation).groups(in)))),
      pointwise(register_module("pointwise", nn::Conv2d(nn::Conv2dOptions(in, out, 1)))) {}

torch::Tensor SeparableConvImpl::forward(const torch::Tensor& x) {
  return conv2d(pointwise, conv2d(depthwise, x));
}

torch::Tensor DecoderImpl::Block::forward(const torch::Tensor& x) const {
  return separable ? separable.ptr()->forward(x) : conv2d(dense, x);
}

DecoderImpl::Block DecoderImpl::block(const std::string& name, bool separable, int64_t in,
                                      int64_t out, int64_t dilation) {
  Block b;
  if (separable)
    b.separable = register_module(name, SeparableConv(in, out, dilation));
  else
    b.dense = register_module(
        name, nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(dilation).dilation(dilation)));
  return b;
}

void DecoderImpl::init_bilinear(nn::ConvTranspose2d& deconv) {
  torch::NoGradGuard no_grad;
  auto& w = deconv->weight;  // [in, out, k, k]
  const int64_t k = w.size(2);
  TORCH_CHECK(w.size(0) == w.size(1) && w.size(3) == k,
              "bilinear init needs in == out, square kernel");
  // FCN's upsampling kernel: the outer product of a triangle filter.
  const int64_t factor = (k + 1) / 2;
  const double center = (k % 2 == 1) ? factor - 1 : factor - 0.5;
  auto tri = torch::empty({k}, torch::kFloat);
  for (int64_t i = 0; i < k; ++i) tri[i] = 1.0 - std::abs(i - center) / factor;
  auto kernel = tri.unsqueeze(1) * tri.unsqueeze(0);
  w.zero_();
  for (int64_t c = 0; c < w.size(0); ++c) w[c][c].copy_(kernel);
  if (deconv->bias.defined()) deconv->bias.zero_();
}

DecoderImpl::DecoderImpl(const DecoderOptions& options) : options_(options) {
  if (options_.skip_channels.size() != options_.skip_strides.size())
    throw std::invalid_argument("decoder: skip_channels and skip_strides differ in length");
  int64_t ch = options_.channels;
  conv_in =
      register_module("conv_in", conv3x3(options_.sir_channels + options_.group_channels, ch));
  conv_mid = block("conv_mid", options_.separable_context, ch, ch);
  if (options_.context) {
    context_dilated = block("context_dilated", options_.separable_context, ch, ch, 3);
    context_pool = register_module("context_pool", nn::Conv2d(nn::Conv2dOptions(ch, ch, 1)));
  }

  // Upsample by 2 until the finest skip's stride (stride / 4 without skips).
  output_stride_ = std::max<int64_t>(1, options_.stride / 4);
  for (int64_t s : options_.skip_strides)
    if (s < options_.stride) output_stride_ = std::min(output_stride_, s);
  int64_t stride = options_.stride;
  for (int i = 0; stride > output_stride_; ++i) {
    stride /= 2;
    Stage st;
    const std::string p = "stage" + std::to_string(i) + "_";
    if (!options_.bilinear_stages) {
      st.up = register_module(
          p + "up",
          nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ch, ch, 4).stride(2).padding(1)));
      init_bilinear(st.up);
    }
    for (size_t k = 0; k < options_.skip_strides.size(); ++k) {
      if (options_.skip_strides[k] == stride) {
        st.skip_index = static_cast<int64_t>(k);
        st.skip_proj = register_module(
            p + "skip", nn::Conv2d(nn::Conv2dOptions(options_.skip_channels[k], ch, 1)));
        break;
      }
    }
    const int64_t next = std::max<int64_t>(8, ch / 2);
    st.conv = block(p + "conv", options_.separable_stages, ch, next);
    ch = next;
    stages.push_back(st);
  }
  logits = register_module("logits", conv3x3(ch, 1));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& s, const torch::Tensor& g,
                                   const std::vector<torch::Tensor>& skips, int64_t height,
                                   int64_t width) {
  auto x = options_.group_channels > 0 ? torch::cat({s, g}, 1) : s;
  x = relu_fresh(conv2d(conv_in, x));
  x = relu_fresh(conv_mid.forward(x));
  if (context_pool) {
    x = x + relu_fresh(context_dilated.forward(x)) +
        relu_fresh(conv2d(context_pool, x.mean({2, 3}, /*keepdim=*/true)));
  }
  for (auto& st : stages) {
    x = st.up ? conv_transpose2d_x2(st.up, x) : upsample_x2(x);
    if (st.skip_proj) {
      TORCH_CHECK(st.skip_index < static_cast<int64_t>(skips.size()), "decoder: missing skip ",
                  st.skip_index);
      x = x + conv2d(st.skip_proj, skips[st.skip_index]);
    }
    x = relu_fresh(st.conv.forward(relu_fresh(x)));
  }
  x = conv2d(logits, x);
  if (x.size(2) == height && x.size(3) == width) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace cosal
