#include "rcau.h"

#include "conv_ops.h"

#include <algorithm>
#include <stdexcept>

namespace cosal {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

RcauImpl::RcauImpl(const RcauOptions& options) : options_(options) {
  const int64_t c = options_.channels;
  const int64_t cells = options_.grid_height * options_.grid_width;
  if (c <= 0 || cells <= 0) throw std::invalid_argument("RCAU: channels and grid must be positive");
  if (!options_.spatial_attention && !options_.channel_attention)
    throw std::invalid_argument("RCAU: the update gate needs spatial or channel attention");
  if (options_.spatial_hidden <= 0) options_.spatial_hidden = std::max<int64_t>(8, cells / 4);
  if (options_.reset_gate) w_d = register_module("w_d", nn::Conv2d(nn::Conv2dOptions(2 * c, c, 1)));
  if (options_.spatial_attention) {
    w1s = register_module("w1s", nn::Linear(cells, options_.spatial_hidden));
    w2s = register_module("w2s", nn::Linear(options_.spatial_hidden, cells));
  }
  if (options_.channel_attention) w_c = register_module("w_c", nn::Linear(c, c));
}

torch::Tensor RcauImpl::spatial(const torch::Tensor& z) {
  const int64_t b = z.size(0), h = z.size(2), w = z.size(3);
  const int64_t gh = options_.grid_height, gw = options_.grid_width;
  auto m = z.mean(1, /*keepdim=*/true);  // cross-channel average map [B,1,h,w]
  // The paper's FC mixes all positions, so it needs a fixed number of them:
  // other sizes are pooled to the native grid and the answer resized back.
  // At the native size both resamplings are exact identities.
  const bool native = (h == gh && w == gw);
  if (!native) m = F::adaptive_avg_pool2d(m, F::AdaptiveAvgPool2dFuncOptions({gh, gw}));
  auto zs = w2s(torch::relu(w1s(m.reshape({b, gh * gw})))).reshape({b, 1, gh, gw});
  if (!native)
    zs = F::interpolate(zs, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{h, w})
                                .mode(torch::kBilinear)
                                .align_corners(false));
  return zs;
}

RcauGates RcauImpl::gates(const torch::Tensor& g_prev, const torch::Tensor& x) {
  TORCH_CHECK(g_prev.dim() == 4 && g_prev.sizes() == x.sizes(),
              "RCAU: G and X must have the same [B,C,h,w] shape, got ", g_prev.sizes(), " and ",
              x.sizes());
  RcauGates out;
  if (options_.reset_gate) {
    out.d = torch::sigmoid(conv2d(w_d, torch::cat({g_prev, x}, 1)));
    out.x_tilde = x * out.d;
  } else {
    out.x_tilde = x;
  }
  auto z = g_prev - x;
  torch::Tensor logit;
  if (options_.spatial_attention) {
    out.z_s = spatial(z);
    logit = out.z_s;
  }
  if (options_.channel_attention) {
    out.z_c = w_c(z.mean({2, 3})).reshape({z.size(0), z.size(1), 1, 1});
    logit = logit.defined() ? logit * out.z_c : out.z_c;
  }
  out.z = torch::sigmoid(logit).expand_as(x);
  out.g = out.z * g_prev + (1 - out.z) * out.x_tilde;
  return out;
}

torch::Tensor RcauImpl::forward(const torch::Tensor& g_prev, const torch::Tensor& x) {
  return gates(g_prev, x).g;
}

}  // namespace cosal
