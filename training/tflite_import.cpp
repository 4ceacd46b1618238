// TFLite graphs -> our modules: the MobileNetV2 classifier and DeepLabV3.
// The graph's convolutions (CONV_2D, DEPTHWISE_CONV_2D) are visited in
// execution order and mapped one to one onto the module's layers; shapes,
// strides, dilations, padding and fused activations must all agree, so a
// different network is refused rather than silently mis-loaded.
#include <string>
#include <vector>

#include "tflite_import.h"
#include "tflite_model.h"

namespace cosal {

namespace {

namespace tfl = tflite;

struct ConvSlot {
  SameConv2dImpl* layer;
  bool depthwise;
  tfl::Activation activation;
  std::string what;  // for errors: "blocks.3.expand"
};

std::string shape_string(const std::vector<int32_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Graph {
  std::string path;
  tfl::Model model;
  std::vector<const tfl::Operator*> convs;  // in execution order
  size_t adds = 0;

  explicit Graph(const std::string& p) : path(p), model(tfl::Model::read(p)) {
    for (const tfl::Operator& op : sub().operators) {
      if (op.builtin_code == tfl::op::CONV_2D || op.builtin_code == tfl::op::DEPTHWISE_CONV_2D) {
        convs.push_back(&op);
      } else if (op.builtin_code == tfl::op::ADD) {
        ++adds;
      }
    }
  }
  const tfl::Subgraph& sub() const { return model.subgraphs[0]; }
  [[noreturn]] void fail(const std::string& problem) const {
    throw tfl::FormatError(path + ": " + problem);
  }
};

// The MobileNetV2 layers in graph order; counts the residual additions.
void mobilenet_slots(MobileNetV2Impl& net, const std::string& prefix, std::vector<ConvSlot>* slots,
                     size_t* residuals) {
  const auto act = [](const SameConv2dImpl& l) {
    return l.relu6 ? tfl::Activation::RELU6 : tfl::Activation::NONE;
  };
  slots->push_back({net.stem.get(), false, act(*net.stem), prefix + "stem"});
  for (size_t b = 0; b < net.blocks->size(); ++b) {
    auto* block = net.blocks[b]->as<InvertedResidualImpl>();
    const std::string name = prefix + "blocks." + std::to_string(b);
    if (block->has_expand()) {
      slots->push_back({block->expand.get(), false, act(*block->expand), name + ".expand"});
    }
    slots->push_back({block->depthwise.get(), true, act(*block->depthwise), name + ".depthwise"});
    slots->push_back({block->project.get(), false, act(*block->project), name + ".project"});
    *residuals += block->residual() ? 1 : 0;
  }
  if (!net.head.is_empty()) {
    slots->push_back({net.head.get(), false, act(*net.head), prefix + "head"});
    slots->push_back({net.logits.get(), false, act(*net.logits), prefix + "logits"});
  }
}

void load_convs(const Graph& g, const std::vector<ConvSlot>& slots, size_t residuals,
                const std::string& network) {
  if (g.convs.size() != slots.size() || g.adds != residuals) {
    g.fail("has " + std::to_string(g.convs.size()) + " convolutions and " + std::to_string(g.adds) +
           " additions; " + network + " has " + std::to_string(slots.size()) + " and " +
           std::to_string(residuals));
  }
  const tfl::Subgraph& sub = g.sub();
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < slots.size(); ++i) {
    const tfl::Operator& op = *g.convs[i];
    SameConv2dImpl& layer = *slots[i].layer;
    const std::string where = "layer " + slots[i].what + " (convolution " + std::to_string(i) + ")";
    const bool is_dw = op.builtin_code == tfl::op::DEPTHWISE_CONV_2D;
    if (is_dw != slots[i].depthwise) g.fail(where + ": unexpected operator type");
    if (op.inputs.size() < 3 || op.inputs[0] < 0 || op.inputs[1] < 0 || op.inputs[2] < 0) {
      g.fail(where + ": needs input, weights and bias tensors");
    }
    if (!op.has_conv_options) g.fail(where + ": convolution options missing");
    const tfl::ConvOptions& o = op.conv;
    if (o.stride_h != layer.stride || o.stride_w != layer.stride ||
        o.dilation_h != layer.dilation || o.dilation_w != layer.dilation ||
        o.padding != tfl::Padding::SAME || (is_dw && o.depth_multiplier != 1)) {
      g.fail(where + ": stride/padding/dilation differ from " + network + "'s");
    }
    if (o.activation != slots[i].activation) g.fail(where + ": unexpected fused activation");

    const tfl::Tensor& in = sub.tensors[static_cast<size_t>(op.inputs[0])];
    const tfl::Tensor& wt = sub.tensors[static_cast<size_t>(op.inputs[1])];
    const tfl::Tensor& bt = sub.tensors[static_cast<size_t>(op.inputs[2])];
    const auto k = static_cast<int32_t>(layer.kernel);
    const auto out = static_cast<int32_t>(layer.out_channels);
    const std::vector<int32_t> want_w =
        is_dw ? std::vector<int32_t>{1, k, k, out}
              : std::vector<int32_t>{out, k, k, static_cast<int32_t>(layer.in_channels)};
    if (wt.shape != want_w) {
      g.fail(where + ": weights have shape " + shape_string(wt.shape) + ", expected " +
             shape_string(want_w));
    }
    if (bt.shape != std::vector<int32_t>{out}) {
      g.fail(where + ": bias has shape " + shape_string(bt.shape));
    }

    std::vector<float> w = g.model.dequantize(sub, op.inputs[1]);
    torch::Tensor wten = torch::from_blob(w.data(), {static_cast<int64_t>(w.size())}).clone();
    if (is_dw) {
      // [1, kh, kw, C] -> [C, 1, kh, kw]
      wten = wten.view({k, k, out}).permute({2, 0, 1}).unsqueeze(1);
    } else {
      // [O, kh, kw, I] -> [O, I, kh, kw]
      wten = wten.view({out, k, k, layer.in_channels}).permute({0, 3, 1, 2});
    }
    layer.weight.copy_(wten);

    std::vector<float> bias;
    if (bt.type == tfl::TensorType::INT32 && bt.quantization.empty()) {
      // Bias scale = input scale x weight scale (per channel where the weights are).
      if (in.quantization.scale.size() != 1 || wt.quantization.empty()) {
        g.fail(where + ": bias has no quantisation and none can be derived");
      }
      tfl::Quantization q;
      for (float ws : wt.quantization.scale) q.scale.push_back(in.quantization.scale[0] * ws);
      bias = g.model.dequantize(sub, op.inputs[2], &q);
    } else {
      bias = g.model.dequantize(sub, op.inputs[2]);
    }
    layer.bias.copy_(torch::from_blob(bias.data(), {static_cast<int64_t>(bias.size())}));
  }
}

// The graph input's quantisation maps a pixel q in 0..255 to real =
// scale * (q - zero_point); our images are q / 255.
void load_input_normalisation(const Graph& g, MobileNetV2Impl& net) {
  const tfl::Subgraph& sub = g.sub();
  if (sub.inputs.empty() || sub.inputs[0] < 0) g.fail("the graph has no input tensor");
  const tfl::Tensor& input = sub.tensors[static_cast<size_t>(sub.inputs[0])];
  if (input.quantization.empty()) return;  // float input: keep the [-1, 1] default
  if (input.quantization.scale.size() != 1 || input.quantization.zero_point.size() > 1) {
    g.fail("the input tensor has per-channel quantisation");
  }
  const double scale = input.quantization.scale[0];
  const double zp = input.quantization.zero_point.empty() ? 0.0 : input.quantization.zero_point[0];
  double lo = 0, hi = 255;  // pixel range of the input type
  if (input.type == tfl::TensorType::INT8) {
    lo = -128;  // int8 inputs hold pixel - 128
    hi = 127;
  } else if (input.type != tfl::TensorType::UINT8) {
    g.fail(std::string("unsupported quantised input type ") + tfl::type_name(input.type));
  }
  torch::NoGradGuard no_grad;
  net.input_scale.fill_(scale * (hi - lo));
  net.input_shift.fill_(scale * (lo - zp));
}

}  // namespace

std::shared_ptr<MobileNetV2Impl> import_mobilenet_v2_tflite(const std::string& path) {
  const Graph g(path);
  // The class count is the last convolution's output channels.
  int64_t num_classes = 0;
  if (!g.convs.empty()) {
    const auto& w = g.convs.back()->inputs;
    if (w.size() >= 2 && w[1] >= 0 && !g.sub().tensors[static_cast<size_t>(w[1])].shape.empty()) {
      num_classes = g.sub().tensors[static_cast<size_t>(w[1])].shape[0];
    }
  }
  if (num_classes <= 0) g.fail("no convolution layers: not a MobileNetV2 classifier");
  auto net = std::make_shared<MobileNetV2Impl>(num_classes);
  std::vector<ConvSlot> slots;
  size_t residuals = 0;
  mobilenet_slots(*net, "", &slots, &residuals);
  load_convs(g, slots, residuals, "MobileNetV2 1.0");
  load_input_normalisation(g, *net);
  return net;
}

std::shared_ptr<DeepLabV3Impl> import_deeplabv3_mnv2_tflite(const std::string& path) {
  const Graph g(path);
  auto net = std::make_shared<DeepLabV3Impl>();
  std::vector<ConvSlot> slots;
  size_t residuals = 0;
  mobilenet_slots(*net->encoder, "encoder.", &slots, &residuals);
  // The head, in the graph's order: the 1x1 branch, the image pooling
  // branch, the projection of their concatenation, the logits.
  slots.push_back({net->aspp0.get(), false, tfl::Activation::RELU, "aspp0"});
  slots.push_back({net->image_pooling.get(), false, tfl::Activation::RELU, "image_pooling"});
  slots.push_back(
      {net->concat_projection.get(), false, tfl::Activation::RELU, "concat_projection"});
  slots.push_back({net->logits.get(), false, tfl::Activation::NONE, "logits"});
  load_convs(g, slots, residuals, "DeepLabV3-MobileNetV2");
  load_input_normalisation(g, *net->encoder);

  // The concatenation must put the pooled branch first (as run() does), and
  // the final upsampling's corner alignment is taken from the graph.
  const tfl::Subgraph& sub = g.sub();
  const tfl::Tensor* concat_second = nullptr;
  for (const tfl::Operator& op : sub.operators) {
    if (op.builtin_code == tfl::op::CONCATENATION && op.inputs.size() == 2 && op.inputs[1] >= 0) {
      concat_second = &sub.tensors[static_cast<size_t>(op.inputs[1])];
    }
    if (op.builtin_code == tfl::op::RESIZE_BILINEAR) net->align_corners = op.align_corners;
  }
  const std::vector<int32_t>& aspp0_outputs = g.convs[slots.size() - 4]->outputs;
  const int32_t aspp0_out = aspp0_outputs.empty() ? -1 : aspp0_outputs[0];
  if (concat_second == nullptr || aspp0_out < 0 ||
      concat_second != &sub.tensors[static_cast<size_t>(aspp0_out)]) {
    g.fail("the head's concatenation is not [image pooling, 1x1 branch]");
  }
  return net;
}

std::shared_ptr<MobileNetV2Impl> import_mobilenet_v2_encoder_tflite(const std::string& path) {
  try {
    return import_mobilenet_v2_tflite(path);
  } catch (const tflite::FormatError& classifier) {
    try {
      return import_deeplabv3_mnv2_tflite(path)->encoder.ptr();
    } catch (const tflite::FormatError& deeplab) {
      throw tflite::FormatError(std::string("neither a MobileNetV2 classifier (") +
                                classifier.what() + ") nor DeepLabV3-MobileNetV2 (" +
                                deeplab.what() + ")");
    }
  }
}

}  // namespace cosal
