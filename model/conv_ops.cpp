#include "conv_ops.h"

#include <ATen/Context.h>
#include <torch/version.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <variant>
#include <vector>

// Conv options hold their padding in c10::variant up to LibTorch 2.0 and in
// std::variant since 2.1.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
namespace options_variant = std;
#else
namespace options_variant = c10;
#endif

namespace cosal {

bool onednn_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  return at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && weight.scalar_type() == torch::kFloat &&
         x.dim() == 4 && x.numel() > 0;
}

namespace {

std::vector<int64_t> vec(torch::ExpandingArray<2> a) { return {(*a)[0], (*a)[1]}; }

// oneDNN takes NCHW or NHWC as they come. Inference keeps a channels-last
// input channels-last (the backbone's features are, see mobilenet_v2.cpp):
// a conversion per layer would cost more than it saves.
torch::Tensor dense(const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled() && x.is_contiguous(at::MemoryFormat::ChannelsLast)) return x;
  return x.contiguous();
}

// The 3x3 kernel to the four sub-pixel phases (and the repeated bias) of a
// kernel-4 stride-2 transposed convolution; see conv_transpose2d_x2.
std::pair<torch::Tensor, torch::Tensor> build_phase_kernel(const torch::Tensor& w,
                                                           const torch::Tensor& b) {
  // out[2j]   = w[1] in[j] + w[3] in[j-1]
  // out[2j+1] = w[0] in[j+1] + w[2] in[j]
  // so each output phase is a 3-tap correlation over in[j-1..j+1], with taps
  // (w3, w1, 0) at even and (0, w2, w0) at odd positions: every other tap of
  // the flipped kernel, padded with one zero. Slices and pads only (no
  // gathers).
  const int64_t out = w.size(1), in = w.size(0);  // w: [in, out, 4, 4]
  auto flipped = w.transpose(0, 1).flip({2, 3});  // [out, in, 4, 4]
  std::vector<torch::Tensor> phases;
  for (int64_t py = 0; py < 2; ++py)
    for (int64_t px = 0; px < 2; ++px)
      phases.push_back(torch::constant_pad_nd(flipped.slice(2, py, 4, 2).slice(3, px, 4, 2),
                                              {px, 1 - px, py, 1 - py}));
  // Channel order co * 4 + phase, as pixel_shuffle expects.
  auto kernel = torch::stack(phases, 1).reshape({out * 4, in, 3, 3});
  torch::Tensor bias;
  if (b.defined()) bias = b.repeat_interleave(4);
  return {kernel, bias};
}

// Building the phase kernel is ~15 small operators (0.7 ms of CPU per frame
// for the decoder's 64-channel one, next to 1.3 ms for the convolution), so
// inference caches it per weight tensor and version: an in-place update of
// the weights (an optimiser step, a load) bumps the version and rebuilds it.
// The entry holds the weight tensors, so their addresses cannot be reused
// while it lives; the few most recent entries are kept.
struct PhaseKernel {
  torch::Tensor weight, bias;  // the module's, as keys
  int64_t weight_version = 0, bias_version = 0;
  torch::Tensor kernel, kernel_bias;
};

std::pair<torch::Tensor, torch::Tensor> phase_kernel(const torch::Tensor& w,
                                                     const torch::Tensor& b) {
  // Gradients must flow through the construction; inference tensors have no
  // version counter to key on.
  if (torch::GradMode::is_enabled() || w.is_inference() || (b.defined() && b.is_inference()))
    return build_phase_kernel(w, b);
  static std::mutex mutex;
  static std::vector<PhaseKernel> cache;  // most recently used first
  constexpr size_t kEntries = 8;
  const int64_t wv = w._version(), bv = b.defined() ? b._version() : 0;
  auto same = [&](const PhaseKernel& e) {
    return e.weight.unsafeGetTensorImpl() == w.unsafeGetTensorImpl() && e.weight_version == wv &&
           e.bias.defined() == b.defined() &&
           (!b.defined() ||
            (e.bias.unsafeGetTensorImpl() == b.unsafeGetTensorImpl() && e.bias_version == bv));
  };
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = cache.begin(); it != cache.end(); ++it)
      if (same(*it)) {
        std::rotate(cache.begin(), it, it + 1);
        return {cache.front().kernel, cache.front().kernel_bias};
      }
  }
  auto built = build_phase_kernel(w, b);
  std::lock_guard<std::mutex> lock(mutex);
  cache.insert(cache.begin(), PhaseKernel{w, b, wv, bv, built.first, built.second});
  if (cache.size() > kEntries) cache.pop_back();
  return built;
}

}  // namespace

torch::Tensor conv2d(const torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  const bool zero_padding =
      options_variant::holds_alternative<torch::enumtype::kZeros>(o.padding_mode());
  const auto* pad = options_variant::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!onednn_applies(x, conv->weight) || !zero_padding || !pad) return conv.ptr()->forward(x);
  return at::mkldnn_convolution(dense(x), conv->weight, conv->bias, vec(*pad), vec(o.stride()),
                                vec(o.dilation()), o.groups());
}

torch::Tensor conv_transpose2d_x2(const torch::nn::ConvTranspose2d& deconv,
                                  const torch::Tensor& x) {
  const auto& o = deconv->options;
  const auto* pad = options_variant::get_if<torch::ExpandingArray<2>>(&o.padding());
  TORCH_CHECK(pad && (*o.kernel_size())[0] == 4 && (*o.kernel_size())[1] == 4 &&
                  (*o.stride())[0] == 2 && (*o.stride())[1] == 2 && (**pad)[0] == 1 &&
                  (**pad)[1] == 1 && (*o.output_padding())[0] == 0 &&
                  (*o.output_padding())[1] == 0 && (*o.dilation())[0] == 1 &&
                  (*o.dilation())[1] == 1 && o.groups() == 1,
              "conv_transpose2d_x2 needs kernel 4, stride 2, padding 1, groups 1");
  if (!onednn_applies(x, deconv->weight)) return deconv.ptr()->forward(x);
  const auto [kernel, bias] = phase_kernel(deconv->weight, deconv->bias);
  auto y = at::mkldnn_convolution(dense(x), kernel, bias, {1, 1}, {1, 1}, {1, 1}, 1);
  return torch::pixel_shuffle(y, 2);
}

}  // namespace cosal
