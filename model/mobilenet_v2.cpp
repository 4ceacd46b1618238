// MobileNetV2 1.0 as in the TFLite graph (see mobilenet_v2.h). The TFLite
// import lives here too: it maps the graph's convolutions onto these layers.
#include "mobilenet_v2.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tflite_model.h"

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

namespace {
bool use_onednn_pointwise(const torch::Tensor& x, const torch::Tensor& w) {
  return at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && x.is_cpu() && x.dim() == 4 &&
         x.scalar_type() == torch::kFloat32 && w.scalar_type() == torch::kFloat32;
}
}  // namespace

torch::Tensor SameConv2dImpl::forward(const torch::Tensor& x) {
  const int64_t extent = dilation * (kernel - 1) + 1;
  torch::Tensor y;
  if (kernel == 1 && stride == 1 && groups == 1 && use_onednn_pointwise(x, weight)) {
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
    torch::Tensor padded = x;
    if (th > 0 || tw > 0) {
      padded = F::pad(x, F::PadFuncOptions({tw / 2, tw - tw / 2, th / 2, th - th / 2}));
    }
    y = torch::conv2d(padded, weight, bias, at::IntArrayRef{stride, stride}, at::IntArrayRef{0, 0},
                      at::IntArrayRef{dilation, dilation}, groups);
  }
  return relu6 ? torch::clamp(y, 0.0, 6.0) : y;
}

InvertedResidualImpl::InvertedResidualImpl(int64_t in, int64_t out, int64_t stride,
                                           int64_t expand_ratio)
    : residual_(stride == 1 && in == out) {
  const int64_t hidden = in * expand_ratio;
  if (expand_ratio != 1) expand = register_module("expand", SameConv2d(in, hidden, 1, 1, 1, true));
  depthwise = register_module("depthwise", SameConv2d(hidden, hidden, 3, stride, hidden, true));
  project = register_module("project", SameConv2d(hidden, out, 1, 1, 1, false));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = has_expand() ? expand->forward(x) : x;
  y = project->forward(depthwise->forward(y));
  return residual_ ? y + x : y;
}

// Input defaults are the TFLite classifier's quantisation (scale 1/128, zero
// point 128): x = (255 * img - 128) / 128, about [-1, 1].
MobileNetV2Impl::MobileNetV2Impl(int64_t num_classes_)
    : num_classes(num_classes_),
      input_scale(register_buffer("input_scale", torch::full({1, 3, 1, 1}, 255.0 / 128.0))),
      input_shift(register_buffer("input_shift", torch::full({1, 3, 1, 1}, -1.0))),
      stem(register_module("stem", SameConv2d(3, 32, 3, 2, 1, true))),
      blocks(register_module("blocks", torch::nn::ModuleList())),
      head(register_module("head", SameConv2d(320, 1280, 1, 1, 1, true))),
      logits(register_module("logits", SameConv2d(1280, num_classes_, 1, 1, 1, false))) {
  // (expansion t, channels c, repeats n, first stride s) from the paper's Table 2.
  const int64_t settings[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t in = 32;
  for (const auto& s : settings) {
    for (int64_t i = 0; i < s[2]; ++i) {
      blocks->push_back(InvertedResidual(in, s[1], i == 0 ? s[3] : 1, s[0]));
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
  TORCH_CHECK(max_stride == 16 || max_stride == 32,
              "MobileNetV2 taps: max_stride must be 16 or 32");
  const int64_t last = max_stride == 32 ? kStride32Block : kStride16Block;
  std::vector<torch::Tensor> out;
  torch::Tensor x = stem->forward(normalize(images));
  for (int64_t i = 0; i <= last; ++i) {
    x = blocks[static_cast<size_t>(i)]->as<InvertedResidualImpl>()->forward(x);
    if (i == kStride4Block || i == kStride8Block || i == kStride16Block || i == kStride32Block) {
      out.push_back(x);
    }
  }
  return out;
}

BackboneFeatures MobileNetV2Impl::forward(const torch::Tensor& images) {
  std::vector<torch::Tensor> t = taps(images, 16);
  return BackboneFeatures{t[2], {t[0], t[1]}};
}

std::vector<torch::Tensor> MobileNetV2Impl::perceptual_features(const torch::Tensor& images) {
  return taps(images, 16);
}

torch::Tensor MobileNetV2Impl::classify(const torch::Tensor& images) {
  torch::Tensor x = head->forward(taps(images, 32)[3]);
  // The graph's 7x7 VALID average pool at 224^2 is a global mean.
  x = x.mean({2, 3}, /*keepdim=*/true);
  return logits->forward(x).flatten(1);
}

namespace {

struct ConvSlot {
  SameConv2dImpl* layer;
  bool depthwise;
  std::string what;  // for errors: "blocks.3.expand"
};

std::string shape_string(const std::vector<int32_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::shared_ptr<MobileNetV2Impl> import_mobilenet_v2_tflite(const std::string& path) {
  namespace tfl = tflite;
  const tfl::Model model = tfl::Model::read(path);
  const tfl::Subgraph& g = model.subgraphs[0];
  auto fail = [&](const std::string& problem) -> void {
    throw tfl::FormatError(path + ": " + problem);
  };

  // The graph's convolutions in execution order: CONV_2D and DEPTHWISE_CONV_2D.
  std::vector<const tfl::Operator*> convs;
  size_t adds = 0;
  for (const tfl::Operator& op : g.operators) {
    if (op.builtin_code == tfl::op::CONV_2D || op.builtin_code == tfl::op::DEPTHWISE_CONV_2D) {
      convs.push_back(&op);
    } else if (op.builtin_code == tfl::op::ADD) {
      ++adds;
    }
  }
  // The classifier's class count is the last convolution's output channels.
  int64_t num_classes = 0;
  if (!convs.empty()) {
    const auto& w = convs.back()->inputs;
    if (w.size() >= 2 && w[1] >= 0 && !g.tensors[static_cast<size_t>(w[1])].shape.empty()) {
      num_classes = g.tensors[static_cast<size_t>(w[1])].shape[0];
    }
  }
  if (num_classes <= 0) fail("no convolution layers: not a MobileNetV2 classifier");
  auto net = std::make_shared<MobileNetV2Impl>(num_classes);

  std::vector<ConvSlot> slots;
  slots.push_back({net->stem.get(), false, "stem"});
  size_t residuals = 0;
  for (size_t b = 0; b < net->blocks->size(); ++b) {
    auto* block = net->blocks[b]->as<InvertedResidualImpl>();
    const std::string name = "blocks." + std::to_string(b);
    if (block->has_expand()) slots.push_back({block->expand.get(), false, name + ".expand"});
    slots.push_back({block->depthwise.get(), true, name + ".depthwise"});
    slots.push_back({block->project.get(), false, name + ".project"});
    residuals += block->residual() ? 1 : 0;
  }
  slots.push_back({net->head.get(), false, "head"});
  slots.push_back({net->logits.get(), false, "logits"});
  if (convs.size() != slots.size() || adds != residuals) {
    fail("has " + std::to_string(convs.size()) + " convolutions and " + std::to_string(adds) +
         " additions; MobileNetV2 1.0 has " + std::to_string(slots.size()) + " and " +
         std::to_string(residuals));
  }

  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < slots.size(); ++i) {
    const tfl::Operator& op = *convs[i];
    SameConv2dImpl& layer = *slots[i].layer;
    const std::string where = "layer " + slots[i].what + " (operator " + std::to_string(i) + ")";
    const bool is_dw = op.builtin_code == tfl::op::DEPTHWISE_CONV_2D;
    if (is_dw != slots[i].depthwise) fail(where + ": unexpected operator type");
    if (op.inputs.size() < 3 || op.inputs[0] < 0 || op.inputs[1] < 0 || op.inputs[2] < 0) {
      fail(where + ": needs input, weights and bias tensors");
    }
    if (!op.has_conv_options) fail(where + ": convolution options missing");
    const tfl::ConvOptions& o = op.conv;
    // The head/logits of the classifier see a 1x1 map after pooling; every
    // stride must match the module's, padding is SAME, no dilation.
    if (o.stride_h != layer.stride || o.stride_w != layer.stride || o.dilation_h != 1 ||
        o.dilation_w != 1 || o.padding != tfl::Padding::SAME ||
        (is_dw && o.depth_multiplier != 1)) {
      fail(where + ": stride/padding/dilation differ from MobileNetV2's");
    }
    const tfl::Activation want = layer.relu6 ? tfl::Activation::RELU6 : tfl::Activation::NONE;
    if (o.activation != want) fail(where + ": unexpected fused activation");

    const tfl::Tensor& in = g.tensors[static_cast<size_t>(op.inputs[0])];
    const tfl::Tensor& wt = g.tensors[static_cast<size_t>(op.inputs[1])];
    const tfl::Tensor& bt = g.tensors[static_cast<size_t>(op.inputs[2])];
    const int64_t k = layer.kernel;
    const std::vector<int32_t> want_w =
        is_dw ? std::vector<int32_t>{1, static_cast<int32_t>(k), static_cast<int32_t>(k),
                                     static_cast<int32_t>(layer.out_channels)}
              : std::vector<int32_t>{static_cast<int32_t>(layer.out_channels),
                                     static_cast<int32_t>(k), static_cast<int32_t>(k),
                                     static_cast<int32_t>(layer.in_channels)};
    if (wt.shape != want_w) {
      fail(where + ": weights have shape " + shape_string(wt.shape) + ", expected " +
           shape_string(want_w));
    }
    if (bt.shape != std::vector<int32_t>{static_cast<int32_t>(layer.out_channels)}) {
      fail(where + ": bias has shape " + shape_string(bt.shape));
    }

    std::vector<float> w = model.dequantize(g, op.inputs[1]);
    torch::Tensor wten = torch::from_blob(w.data(), {static_cast<int64_t>(w.size())}).clone();
    if (is_dw) {
      // [1, kh, kw, C] -> [C, 1, kh, kw]
      wten = wten.view({k, k, layer.out_channels}).permute({2, 0, 1}).unsqueeze(1);
    } else {
      // [O, kh, kw, I] -> [O, I, kh, kw]
      wten = wten.view({layer.out_channels, k, k, layer.in_channels}).permute({0, 3, 1, 2});
    }
    layer.weight.copy_(wten);

    std::vector<float> bias;
    if (bt.type == tfl::TensorType::INT32 && bt.quantization.empty()) {
      // Bias scale = input scale x weight scale (per channel where the weights are).
      if (in.quantization.scale.size() != 1 || wt.quantization.empty()) {
        fail(where + ": bias has no quantisation and none can be derived");
      }
      tfl::Quantization q;
      q.quantized_dimension = 0;
      for (float ws : wt.quantization.scale) q.scale.push_back(in.quantization.scale[0] * ws);
      bias = model.dequantize(g, op.inputs[2], &q);
    } else {
      bias = model.dequantize(g, op.inputs[2]);
    }
    layer.bias.copy_(torch::from_blob(bias.data(), {static_cast<int64_t>(bias.size())}));
  }

  // Input normalisation: the graph input's quantisation maps pixel q in
  // 0..255 to real = scale * (q - zero_point); our images are q / 255.
  if (g.inputs.empty() || g.inputs[0] < 0) fail("the graph has no input tensor");
  const tfl::Tensor& input = g.tensors[static_cast<size_t>(g.inputs[0])];
  if (!input.quantization.empty()) {
    if (input.quantization.scale.size() != 1 || input.quantization.zero_point.size() > 1) {
      fail("the input tensor has per-channel quantisation");
    }
    const double scale = input.quantization.scale[0];
    const double zp =
        input.quantization.zero_point.empty() ? 0.0 : input.quantization.zero_point[0];
    double lo = 0, hi = 255;  // pixel range of the input type
    if (input.type == tfl::TensorType::INT8) {
      lo = -128;  // int8 inputs hold pixel - 128
      hi = 127;
    } else if (input.type != tfl::TensorType::UINT8) {
      fail(std::string("unsupported quantised input type ") + tfl::type_name(input.type));
    }
    net->input_scale.fill_(scale * (hi - lo));
    net->input_shift.fill_(scale * (lo - zp));
  }
  return net;
}

}  // namespace cosal
