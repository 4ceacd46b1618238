#include "conv_ops.h"

#include <ATen/Context.h>

namespace cosal {

namespace {

bool use_onednn(const torch::Tensor& x) {
  return at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && x.dim() == 4 && x.numel() > 0;
}

std::vector<int64_t> vec(torch::ExpandingArray<2> a) { return {(*a)[0], (*a)[1]}; }

// oneDNN takes NCHW or NHWC as they come. Inference keeps a channels-last
// input channels-last (the backbone's features are, see mobilenet_v2.cpp):
// a conversion per layer would cost more than it saves.
torch::Tensor dense(const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled() && x.is_contiguous(at::MemoryFormat::ChannelsLast)) return x;
  return x.contiguous();
}

}  // namespace

torch::Tensor conv2d(const torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  const bool zero_padding = c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode());
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!use_onednn(x) || !zero_padding || !pad) return conv.ptr()->forward(x);
  return at::mkldnn_convolution(dense(x), conv->weight, conv->bias, vec(*pad), vec(o.stride()),
                                vec(o.dilation()), o.groups());
}

torch::Tensor conv_transpose2d_x2(const torch::nn::ConvTranspose2d& deconv,
                                  const torch::Tensor& x) {
  const auto& o = deconv->options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  TORCH_CHECK(pad && (*o.kernel_size())[0] == 4 && (*o.kernel_size())[1] == 4 &&
                  (*o.stride())[0] == 2 && (*o.stride())[1] == 2 && (**pad)[0] == 1 &&
                  (**pad)[1] == 1 && (*o.output_padding())[0] == 0 &&
                  (*o.output_padding())[1] == 0 && (*o.dilation())[0] == 1 &&
                  (*o.dilation())[1] == 1 && o.groups() == 1,
              "conv_transpose2d_x2 needs kernel 4, stride 2, padding 1, groups 1");
  if (!use_onednn(x)) return deconv.ptr()->forward(x);
  // out[2j]   = w[1] in[j] + w[3] in[j-1]
  // out[2j+1] = w[0] in[j+1] + w[2] in[j]
  // so each output phase is a 3-tap correlation over in[j-1..j+1], with taps
  // (w3, w1, 0) at even and (0, w2, w0) at odd positions: every other tap of
  // the flipped kernel, padded with one zero. Slices and pads only (no
  // gathers), as this runs on every call.
  const auto& w = deconv->weight;  // [in, out, 4, 4]
  const int64_t out = w.size(1), in = w.size(0);
  auto flipped = w.transpose(0, 1).flip({2, 3});  // [out, in, 4, 4]
  std::vector<torch::Tensor> phases;
  for (int64_t py = 0; py < 2; ++py)
    for (int64_t px = 0; px < 2; ++px)
      phases.push_back(torch::constant_pad_nd(flipped.slice(2, py, 4, 2).slice(3, px, 4, 2),
                                              {px, 1 - px, py, 1 - py}));
  // Channel order co * 4 + phase, as pixel_shuffle expects.
  auto kernel = torch::stack(phases, 1).reshape({out * 4, in, 3, 3});
  torch::Tensor bias;
  if (deconv->bias.defined()) bias = deconv->bias.repeat_interleave(4);
  auto y = at::mkldnn_convolution(dense(x), kernel, bias, {1, 1}, {1, 1}, {1, 1}, 1);
  return torch::pixel_shuffle(y, 2);
}

}  // namespace cosal
