#include "rcan.h"

#include <stdexcept>

namespace cosal {

RcanImpl::RcanImpl(const RcanConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  backbone = register_module("backbone", make_backbone(cfg_.backbone));
  const int64_t c = backbone->out_channels();
  const int64_t stride = backbone->stride();
  if (cfg_.input_width % stride != 0 || cfg_.input_height % stride != 0)
    throw std::invalid_argument("input size " + std::to_string(cfg_.input_width) + "x" +
                                std::to_string(cfg_.input_height) + " is not a multiple of the " +
                                cfg_.backbone + " stride " + std::to_string(stride));
  sir = register_module("sir", SirBranch(c, cfg_.sir_channels));

  const std::string& v = cfg_.variant;
  if (v == "convgru") {
    convgru = register_module("convgru", ConvGru(c));
  } else if (v != "baseline") {
    RcauOptions o;
    o.channels = c;
    o.grid_height = cfg_.input_height / stride;
    o.grid_width = cfg_.input_width / stride;
    o.reset_gate = v != "rcau_no_reset";
    o.spatial_attention = v != "rcau_channel";
    o.channel_attention = v != "rcau_spatial";
    rcau = register_module("rcau", Rcau(o));
  }

  DecoderOptions d;
  d.sir_channels = cfg_.sir_channels;
  // The baseline has no group input at all rather than a zero one: the same
  // decoder otherwise, without wasted work in its first conv.
  d.group_channels = cfg_.uses_group() ? c : 0;
  d.channels = cfg_.decoder_channels;
  d.context = cfg_.decoder_context;
  d.bilinear_stages = cfg_.decoder_blocks != "dense";
  d.separable_stages =
      cfg_.decoder_blocks == "separable_stages" || cfg_.decoder_blocks == "separable";
  d.separable_context = cfg_.decoder_blocks == "separable";
  d.stride = stride;
  d.skip_channels = backbone->skip_channels();
  d.skip_strides = backbone->skip_strides();
  decoder = register_module("decoder", Decoder(d));
}

BackboneFeatures RcanImpl::encode(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "RCAN: images must be [N,3,H,W], got ",
              images.sizes());
  const int64_t stride = backbone->stride();
  TORCH_CHECK(images.size(2) % stride == 0 && images.size(3) % stride == 0, "RCAN: image size ",
              images.size(3), "x", images.size(2), " is not a multiple of the backbone stride ",
              stride);
  return backbone->forward(images);
}

torch::Tensor RcanImpl::group_step(const torch::Tensor& g_prev, const torch::Tensor& x) {
  if (!g_prev.defined()) return x;  // G_0 = X_1
  if (rcau) return rcau(g_prev, x);
  if (convgru) return convgru(g_prev, x);
  return x;  // baseline: no group unit; the decoder ignores G
}

torch::Tensor RcanImpl::group_feature(const torch::Tensor& x) {
  if (!cfg_.uses_group()) return {};
  torch::Tensor g;
  for (int64_t n = 0; n < x.size(0); ++n) g = group_step(g, x.narrow(0, n, 1));
  return g;
}

torch::Tensor RcanImpl::decode(const BackboneFeatures& f, const torch::Tensor& g, int64_t height,
                               int64_t width) {
  auto s = sir(f.x);
  torch::Tensor gn;
  if (cfg_.uses_group()) {
    TORCH_CHECK(g.defined() && g.dim() == 4 && g.size(0) == 1 && g.size(1) == f.x.size(1) &&
                    g.size(2) == f.x.size(2) && g.size(3) == f.x.size(3),
                "RCAN: group feature must be [1,", f.x.size(1), ",", f.x.size(2), ",", f.x.size(3),
                "]");
    gn = g.expand({f.x.size(0), -1, -1, -1});
  }
  return decoder(s, gn, f.skips, height, width);
}

RcanOutput RcanImpl::forward_features(const BackboneFeatures& f, int64_t height, int64_t width) {
  RcanOutput out;
  out.group = group_feature(f.x);
  out.logits = decode(f, out.group, height, width);
  out.masks = torch::sigmoid(out.logits);
  return out;
}

RcanOutput RcanImpl::forward(const torch::Tensor& images) {
  return forward_features(encode(images), images.size(2), images.size(3));
}

}  // namespace cosal
