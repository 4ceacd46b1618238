// The backbones behind make_backbone: feature shapes at several input sizes,
// consistency with stride()/out_channels()/skip_*(), torchvision naming for
// VGG16, and the speed promise of the tiny test backbone.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"
#include "mobilenet_v2.h"
#include "vgg16.h"
#include "weights_io.h"

namespace {

struct Case {
  std::string name;
  int64_t out_channels;
  std::vector<int64_t> skip_channels;
  std::vector<int64_t> perceptual_channels;
  std::vector<std::pair<int64_t, int64_t>> sizes;  // (H, W), multiples of 16
};

class BackboneShapes : public ::testing::TestWithParam<Case> {};

TEST_P(BackboneShapes, FeaturesMatchTheDeclaredGeometry) {
  const Case& c = GetParam();
  torch::manual_seed(0);
  auto net = cosal::make_backbone(c.name);
  net->eval();
  EXPECT_EQ(net->name(), c.name);
  EXPECT_EQ(net->stride(), 16);
  EXPECT_EQ(net->out_channels(), c.out_channels);
  EXPECT_EQ(net->skip_channels(), c.skip_channels);
  EXPECT_EQ(net->skip_strides(), (std::vector<int64_t>{4, 8}));
  torch::InferenceMode guard;
  for (const auto& [h, w] : c.sizes) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const torch::Tensor img = torch::rand({2, 3, h, w});
    const cosal::BackboneFeatures f = net->forward(img);
    EXPECT_EQ(f.x.sizes(),
              (std::vector<int64_t>{2, net->out_channels(), h / net->stride(), w / net->stride()}));
    ASSERT_EQ(f.skips.size(), net->skip_channels().size());
    for (size_t i = 0; i < f.skips.size(); ++i) {
      const int64_t s = net->skip_strides()[i];
      EXPECT_EQ(f.skips[i].sizes(),
                (std::vector<int64_t>{2, net->skip_channels()[i], h / s, w / s}));
    }
    EXPECT_TRUE(torch::isfinite(f.x).all().item<bool>());
    const std::vector<torch::Tensor> p = net->perceptual_features(img);
    ASSERT_EQ(p.size(), c.perceptual_channels.size());
    const int64_t strides[] = {4, 8, 16};  // shallow to deep
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_EQ(p[i].sizes(), (std::vector<int64_t>{2, c.perceptual_channels[i], h / strides[i],
                                                    w / strides[i]}));
    }
    // Batch items are independent: image 1 alone gives the same features.
    const cosal::BackboneFeatures one = net->forward(img.slice(0, 1, 2));
    EXPECT_TRUE(torch::allclose(one.x[0], f.x[1], 1e-4, 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, BackboneShapes,
    ::testing::Values(Case{"mobilenet_v2", 96, {24, 32}, {24, 32, 96}, {{224, 224}, {160, 288}}},
                      // VGG16 is ~15 GFLOP at 224^2: smaller inputs keep the test quick.
                      Case{"vgg16", 512, {256, 512}, {256, 512, 512}, {{64, 64}, {48, 80}}},
                      Case{"tiny", 32, {8, 16}, {8, 16, 32}, {{224, 224}, {160, 288}}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(Backbone, UnknownNameThrows) {
  EXPECT_THROW(cosal::make_backbone("resnet50"), std::invalid_argument);
  EXPECT_THROW(cosal::make_backbone(""), std::invalid_argument);
}

TEST(Backbone, Vgg16ParametersUseTorchvisionNames) {
  cosal::VGG16Impl vgg;
  const cosal::NamedTensors state = cosal::module_state(vgg);
  // torchvision.models.vgg16().features: convs at these indices, pool5 (30) dropped.
  const int conv_idx[] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
  const int64_t conv_out[] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
  std::set<std::string> expected;
  for (size_t i = 0; i < 13; ++i) {
    const std::string p = "features." + std::to_string(conv_idx[i]);
    expected.insert(p + ".weight");
    expected.insert(p + ".bias");
    ASSERT_TRUE(state.count(p + ".weight")) << p;
    EXPECT_EQ(state.at(p + ".weight").size(0), conv_out[i]);
    EXPECT_EQ(state.at(p + ".weight").size(2), 3);
    EXPECT_EQ(state.at(p + ".bias").sizes(), (std::vector<int64_t>{conv_out[i]}));
  }
  std::set<std::string> got;
  for (const auto& [name, t] : state) got.insert(name);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(vgg.features->size(), 30u);
}

TEST(Backbone, Vgg16LoadsATorchvisionStyleStateDict) {
  // What tools/vgg16_to_safetensors.py writes: features.<i>.weight/bias only.
  torch::manual_seed(5);
  cosal::VGG16Impl a, b;
  const std::string path = ::testing::TempDir() + "vgg16.safetensors";
  cosal::save_tensors(path, cosal::module_state(a), {{"source", "test"}});
  cosal::load_module_state(b, cosal::load_tensors(cosal::safetensors::File::read(path)), path);
  torch::InferenceMode guard;
  const torch::Tensor img = torch::rand({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(a.forward(img).x, b.forward(img).x));
}

TEST(Backbone, MobileNetV2BackboneStopsAtStride16) {
  auto net =
      std::dynamic_pointer_cast<cosal::MobileNetV2Impl>(cosal::make_backbone("mobilenet_v2"));
  ASSERT_TRUE(net);
  EXPECT_EQ(net->blocks->size(), 13u);
  EXPECT_TRUE(net->head.is_empty());
  EXPECT_TRUE(net->logits.is_empty());
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  // Stem + 13 bottlenecks of MobileNetV2 1.0 (the classifier has 3.5M).
  EXPECT_LT(params, 600000);
  EXPECT_GT(params, 500000);
  torch::InferenceMode guard;
  EXPECT_THROW(net->taps(torch::rand({1, 3, 64, 64}), 32), c10::Error);
  EXPECT_THROW(net->classify(torch::rand({1, 3, 64, 64})), c10::Error);
}

TEST(Backbone, MobileNetV2Stride32TapAndClassifier) {
  torch::manual_seed(0);
  cosal::MobileNetV2Impl net;
  net.eval();
  torch::InferenceMode guard;
  const torch::Tensor img = torch::rand({1, 3, 224, 224});
  const auto t = net.taps(img, 32);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[3].sizes(), (std::vector<int64_t>{1, 320, 7, 7}));
  EXPECT_EQ(net.taps(img, 16).size(), 3u);
  EXPECT_TRUE(torch::equal(net.taps(img, 16)[2], t[2]));
  EXPECT_EQ(net.classify(img).sizes(), (std::vector<int64_t>{1, 1001}));
  EXPECT_THROW(net.taps(img, 8), c10::Error);
}

TEST(Backbone, MobileNetV2UsesTensorFlowSamePadding) {
  // Stride 2 on an even size pads (0 before, 1 after): the top-left output
  // pixel sees input rows/cols 0..2 only, never a zero row above.
  cosal::SameConv2dImpl conv(1, 1, 3, 2, 1, false);
  {
    torch::NoGradGuard g;
    conv.weight.fill_(1.0);
    conv.bias.zero_();
  }
  torch::InferenceMode guard;
  const torch::Tensor x = torch::ones({1, 1, 6, 6});
  const torch::Tensor y = conv.forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, 3, 3}));
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 9.0f);  // full 3x3 window inside
  EXPECT_FLOAT_EQ(y[0][0][2][2].item<float>(), 4.0f);  // bottom-right: 2x2 inside, padding after
  // Odd size: symmetric padding, out = ceil(7 / 2) = 4.
  const torch::Tensor z = conv.forward(torch::ones({1, 1, 7, 7}));
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_FLOAT_EQ(z[0][0][0][0].item<float>(), 4.0f);
}

TEST(Backbone, MobileNetV2PointwiseFastPathMatchesConv2d) {
  // 1x1 convolutions go straight to oneDNN (see SameConv2dImpl::forward):
  // same values and gradients as torch::conv2d, on one thread or more.
  torch::manual_seed(4);
  cosal::SameConv2dImpl conv(16, 8, 1, 1, 1, true);
  const torch::Tensor x = torch::randn({2, 16, 9, 7}, torch::requires_grad());
  const int saved_threads = torch::get_num_threads();
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    const torch::Tensor y = conv.forward(x);
    const torch::Tensor ref = torch::clamp(torch::conv2d(x, conv.weight, conv.bias), 0.0, 6.0);
    EXPECT_TRUE(torch::allclose(y, ref, 1e-5, 1e-5));
    const auto g = torch::autograd::grad({y.sum()}, {x, conv.weight});
    const auto gr = torch::autograd::grad({ref.sum()}, {x, conv.weight});
    EXPECT_TRUE(torch::allclose(g[0], gr[0], 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(g[1], gr[1], 1e-4, 1e-4));
  }
  torch::set_num_threads(saved_threads);
}

TEST(Backbone, MobileNetV2DepthwiseStride2InferencePathIsExact) {
  // Inference computes SAME 3x3/2 depthwise convolutions on even sizes as a
  // 4x4 kernel with symmetric padding (no padded copy of the input): the
  // same values as the padded convolution that training runs, zero padding
  // after the last row and column included; odd sizes keep the padded path.
  torch::manual_seed(5);
  cosal::SameConv2dImpl conv(8, 8, 3, 2, 8, false);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{10, 12}, {9, 12}, {12, 7}}) {
    const torch::Tensor x = torch::randn({2, 8, h, w});
    const torch::Tensor train = conv.forward(x).detach();
    torch::Tensor infer;
    {
      torch::InferenceMode guard;
      infer = conv.forward(x);
    }
    EXPECT_EQ(infer.sizes(), train.sizes()) << h << "x" << w;
    EXPECT_TRUE(torch::allclose(infer, train, 1e-6, 1e-6)) << h << "x" << w;
  }
  {
    torch::NoGradGuard g;
    conv.weight.fill_(1.0);
    conv.bias.zero_();
  }
  torch::InferenceMode guard;
  const torch::Tensor y = conv.forward(torch::ones({1, 8, 6, 6}));
  EXPECT_FLOAT_EQ(y[0][3][0][0].item<float>(), 9.0f);
  EXPECT_FLOAT_EQ(y[0][3][2][2].item<float>(), 4.0f);  // the padding is after, not before
}

TEST(Backbone, MobileNetV2InferenceRunsChannelsLastWithTheSameFeatures) {
  // Inference on the CPU runs NHWC (mobilenet_v2.cpp: oneDNN's depthwise
  // convolutions are many times faster so); training keeps NCHW. Both give
  // the same features up to summation order.
  torch::manual_seed(6);
  cosal::MobileNetV2 net(0, 16, 13);
  net->eval();
  for (auto [h, w] : {std::pair<int64_t, int64_t>{64, 96}, {50, 70}}) {
    const torch::Tensor x = torch::rand({2, 3, h, w});
    const cosal::BackboneFeatures train = net->forward(x);
    ASSERT_TRUE(train.x.requires_grad());  // the training path really ran
    cosal::BackboneFeatures infer;
    {
      torch::InferenceMode guard;
      infer = net->forward(x);
    }
    EXPECT_TRUE(infer.x.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::allclose(infer.x, train.x.detach(), 1e-4, 1e-4)) << h << "x" << w;
    ASSERT_EQ(infer.skips.size(), train.skips.size());
    for (size_t i = 0; i < infer.skips.size(); ++i)
      EXPECT_TRUE(torch::allclose(infer.skips[i], train.skips[i].detach(), 1e-4, 1e-4)) << i;
  }
}

TEST(Backbone, TinyIsFast) {
  auto net = cosal::make_backbone("tiny");
  net->eval();
  torch::InferenceMode guard;
  const torch::Tensor img = torch::rand({1, 3, 64, 64});
  for (int i = 0; i < 5; ++i) net->forward(img);
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    net->forward(img);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  // ~1 ms on an idle core; generous bound for a loaded CI machine.
  EXPECT_LT(ms[ms.size() / 2], 20.0);
  std::printf("tiny backbone 64x64: median %.3f ms\n", ms[ms.size() / 2]);
}

}  // namespace

TEST(Backbone, MobileNetV2Os8IsTheSameNetworkOnAFinerGrid) {
  torch::manual_seed(0);
  auto os16 =
      std::dynamic_pointer_cast<cosal::MobileNetV2Impl>(cosal::make_backbone("mobilenet_v2"));
  auto os8 =
      std::dynamic_pointer_cast<cosal::MobileNetV2Impl>(cosal::make_backbone("mobilenet_v2_os8"));
  ASSERT_TRUE(os16 && os8);
  EXPECT_EQ(os8->name(), "mobilenet_v2_os8");
  EXPECT_EQ(os8->stride(), 8);
  EXPECT_EQ(os16->stride(), 16);
  // Same parameters (dilation changes no shapes), so one's weights load into the other.
  cosal::load_module_state(*os8, cosal::module_state(*os16), "os16");
  os16->eval();
  os8->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor img = torch::rand({1, 3, 96, 160});
  const auto a = os16->forward(img), b = os8->forward(img);
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{1, 96, 12, 20}));
  ASSERT_EQ(b.skips.size(), 2u);
  // Blocks 0-5 are untouched: the stride-4 and stride-8 taps agree exactly.
  EXPECT_TRUE(torch::allclose(a.skips[0], b.skips[0]));
  EXPECT_TRUE(torch::allclose(a.skips[1], b.skips[1]));
  EXPECT_FALSE(a.x.sizes() == b.x.sizes());
}
