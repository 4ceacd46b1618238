// RCAN end to end on the tiny backbone: shapes, variants, gradients, the
// decoder's bilinear initialisation and the config JSON.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "conv_ops.h"
#include "rcan.h"
#include "rcan_config.h"

namespace {

using cosal::Rcan;
using cosal::RcanConfig;

RcanConfig tiny(const std::string& variant = "rcau") {
  RcanConfig cfg;
  cfg.backbone = "tiny";
  cfg.variant = variant;
  cfg.sir_channels = 16;
  cfg.decoder_channels = 16;
  cfg.input_width = cfg.input_height = 64;
  return cfg;
}

const std::vector<std::string> kVariants = {"rcau",          "baseline",     "convgru",
                                            "rcau_no_reset", "rcau_spatial", "rcau_channel"};

TEST(Rcan, OutputShapes) {
  torch::manual_seed(0);
  Rcan net(tiny());
  net->eval();
  torch::NoGradGuard no_grad;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{64, 64}, {96, 160}}) {
    for (int64_t n : {1, 2, 5, 13}) {
      auto out = net->forward(torch::rand({n, 3, h, w}));
      EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{n, 1, h, w})) << n << " " << h;
      EXPECT_EQ(out.masks.sizes(), out.logits.sizes());
      EXPECT_TRUE(torch::allclose(out.masks, torch::sigmoid(out.logits)));
      EXPECT_EQ(out.group.sizes(), (std::vector<int64_t>{1, 32, h / 16, w / 16}));
      EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
    }
  }
}

TEST(Rcan, EveryVariantBuildsAndRuns) {
  for (const auto& v : kVariants) {
    SCOPED_TRACE(v);
    torch::manual_seed(0);
    Rcan net(tiny(v));
    EXPECT_EQ(static_cast<bool>(net->rcau), v.rfind("rcau", 0) == 0);
    EXPECT_EQ(static_cast<bool>(net->convgru), v == "convgru");
    torch::NoGradGuard no_grad;
    auto out = net->forward(torch::rand({3, 3, 96, 64}));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 1, 96, 64}));
    EXPECT_EQ(out.group.defined(), v != "baseline");
  }
}

TEST(Rcan, GroupChangesTheMasks) {
  // The decoder really uses G: the same frame in different groups gets
  // different masks (and the baseline's masks do not depend on the group).
  torch::manual_seed(0);
  auto a = torch::rand({1, 3, 64, 64});
  auto group1 = torch::cat({a, torch::rand({2, 3, 64, 64})});
  auto group2 = torch::cat({a, torch::rand({2, 3, 64, 64})});
  torch::NoGradGuard no_grad;
  for (const std::string v : {"rcau", "baseline"}) {
    Rcan net(tiny(v));
    auto m1 = net->forward(group1).masks[0];
    auto m2 = net->forward(group2).masks[0];
    if (v == "baseline")
      EXPECT_TRUE(torch::allclose(m1, m2, 1e-6, 1e-6));
    else
      EXPECT_FALSE(torch::allclose(m1, m2, 1e-6, 1e-6));
  }
}

TEST(Rcan, ForwardFeaturesEqualsForward) {
  torch::manual_seed(0);
  Rcan net(tiny());
  torch::NoGradGuard no_grad;
  auto images = torch::rand({4, 3, 64, 64});
  auto f = net->encode(images);
  auto a = net->forward(images);
  auto b = net->forward_features(f, 64, 64);
  EXPECT_TRUE(torch::equal(a.logits, b.logits));
  EXPECT_TRUE(torch::equal(net->decode(f, net->group_feature(f.x), 64, 64), a.logits));
}

TEST(Rcan, GradientsReachEveryTrainableParameter) {
  for (const auto& v : kVariants) {
    SCOPED_TRACE(v);
    for (bool frozen_backbone : {false, true}) {
      torch::manual_seed(0);
      Rcan net(tiny(v));
      net->train();
      if (frozen_backbone)
        for (auto& p : net->backbone->parameters()) p.set_requires_grad(false);
      auto images = torch::rand({3, 3, 64, 64});
      auto gt = (torch::rand({3, 1, 64, 64}) > 0.5).to(torch::kFloat);
      auto out = net->forward(images);
      torch::binary_cross_entropy_with_logits(out.logits, gt).backward();
      int64_t trainable = 0;
      for (const auto& p : net->named_parameters()) {
        if (!p.value().requires_grad()) {
          EXPECT_FALSE(p.value().grad().defined()) << p.key();
          continue;
        }
        ++trainable;
        ASSERT_TRUE(p.value().grad().defined()) << p.key();
        EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
      }
      EXPECT_GT(trainable, 10);
    }
  }
}

TEST(Rcan, DeconvolutionsStartAsBilinearUpsampling) {
  torch::manual_seed(0);
  Rcan net(tiny());
  ASSERT_EQ(net->decoder->stages.size(), 2u);  // stride 16 -> 8 -> 4
  const float k1[4] = {0.25f, 0.75f, 0.75f, 0.25f};
  for (auto& st : net->decoder->stages) {
    auto w = st.up->weight;
    ASSERT_EQ(w.size(0), w.size(1));
    ASSERT_EQ(w.size(2), 4);
    for (int64_t i = 0; i < w.size(0); ++i)
      for (int64_t o = 0; o < w.size(1); ++o)
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < 4; ++x)
            ASSERT_FLOAT_EQ(w[i][o][y][x].item<float>(), i == o ? k1[y] * k1[x] : 0.0f);
    EXPECT_EQ(st.up->bias.abs().sum().item<float>(), 0.0f);
    // Away from the border it reproduces bilinear resizing exactly.
    torch::NoGradGuard no_grad;
    auto in = torch::rand({1, w.size(0), 6, 6});
    auto up = st.up(in);
    auto ref =
        torch::nn::functional::interpolate(in, torch::nn::functional::InterpolateFuncOptions()
                                                   .scale_factor(std::vector<double>{2, 2})
                                                   .mode(torch::kBilinear)
                                                   .align_corners(false));
    auto inner = [](const torch::Tensor& t) { return t.narrow(2, 1, 10).narrow(3, 1, 10); };
    EXPECT_TRUE(torch::allclose(inner(up), inner(ref), 1e-5, 1e-5));
  }
}

TEST(Rcan, SkipsAreMergedAtTheirStrides) {
  torch::manual_seed(0);
  Rcan net(tiny());
  ASSERT_EQ(net->decoder->stages.size(), 2u);
  EXPECT_TRUE(net->decoder->stages[0].skip_proj);  // stride 8
  EXPECT_EQ(net->decoder->stages[0].skip_index, 1);
  EXPECT_TRUE(net->decoder->stages[1].skip_proj);  // stride 4
  EXPECT_EQ(net->decoder->stages[1].skip_index, 0);
  EXPECT_EQ(net->decoder->output_stride(), 4);
}

TEST(Rcan, RejectsBadInput) {
  torch::manual_seed(0);
  Rcan net(tiny());
  torch::NoGradGuard no_grad;
  EXPECT_THROW(net->forward(torch::rand({2, 3, 60, 64})), c10::Error);
  EXPECT_THROW(net->forward(torch::rand({2, 1, 64, 64})), c10::Error);
  RcanConfig odd = tiny();
  odd.input_width = 72;
  EXPECT_THROW(Rcan{odd}, std::invalid_argument);
}

// The oneDNN paths compute exactly what LibTorch's conv2d and
// conv_transpose2d compute, forward and backward.
TEST(ConvOps, MatchLibTorch) {
  namespace nn = torch::nn;
  torch::manual_seed(5);
  for (auto [k, stride, groups, c, h] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
           {3, 1, 1, 12, 7}, {1, 1, 1, 20, 9}, {3, 2, 1, 8, 10}, {3, 1, 4, 8, 6}}) {
    nn::Conv2d conv(nn::Conv2dOptions(c, 16, k).padding(k / 2).stride(stride).groups(groups));
    auto x = torch::randn({2, c, h, h + 1}, torch::requires_grad());
    auto ours = cosal::conv2d(conv, x);
    auto ref = torch::conv2d(x, conv->weight, conv->bias, stride, k / 2, 1, groups);
    ASSERT_EQ(ours.sizes(), ref.sizes());
    EXPECT_TRUE(torch::allclose(ours, ref, 1e-5, 1e-5));
    auto go = torch::randn_like(ref);
    auto g1 = torch::autograd::grad({ours}, {x, conv->weight, conv->bias}, {go});
    auto g2 = torch::autograd::grad({ref}, {x, conv->weight, conv->bias}, {go});
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(g1[i], g2[i], 1e-4, 1e-4)) << i;
  }
  for (int64_t c : {1, 5, 16}) {
    nn::ConvTranspose2d up(nn::ConvTranspose2dOptions(c, c, 4).stride(2).padding(1));
    auto x = torch::randn({2, c, 5, 7}, torch::requires_grad());
    auto ours = cosal::conv_transpose2d_x2(up, x);
    auto ref = up(x);
    ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{2, c, 10, 14}));
    EXPECT_TRUE(torch::allclose(ours, ref, 1e-5, 1e-5)) << c;
    auto go = torch::randn_like(ref);
    auto g1 = torch::autograd::grad({ours}, {x, up->weight, up->bias}, {go});
    auto g2 = torch::autograd::grad({ref}, {x, up->weight, up->bias}, {go});
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(g1[i], g2[i], 1e-4, 1e-4)) << i;
  }
  // Inference caches the phase kernel per weight tensor and version: it must
  // follow in-place weight updates, and modules must not see each other's.
  {
    torch::manual_seed(8);
    nn::ConvTranspose2d a(nn::ConvTranspose2dOptions(8, 8, 4).stride(2).padding(1));
    nn::ConvTranspose2d b(nn::ConvTranspose2dOptions(8, 8, 4).stride(2).padding(1));
    const auto x = torch::randn({1, 8, 5, 6});
    for (int round = 0; round < 3; ++round) {
      for (auto* m : {&a, &b}) {
        torch::Tensor first, again;
        {
          torch::InferenceMode guard;
          first = cosal::conv_transpose2d_x2(*m, x);
          again = cosal::conv_transpose2d_x2(*m, x);  // from the cache
        }
        const auto ref = (*m)(x).detach();
        EXPECT_TRUE(torch::allclose(first, ref, 1e-5, 1e-5)) << "round " << round;
        EXPECT_TRUE(torch::equal(first, again)) << "round " << round;
      }
      torch::NoGradGuard no_grad;
      a->weight.mul_(-0.5).add_(0.1);
      a->bias.add_(1.0);
    }
  }
  // Other dtypes take LibTorch's own path.
  nn::Conv2d conv(nn::Conv2dOptions(3, 4, 3).padding(1));
  conv->to(torch::kDouble);
  auto xd = torch::randn({1, 3, 5, 5}, torch::kDouble);
  EXPECT_TRUE(torch::equal(cosal::conv2d(conv, xd), conv(xd)));
}

TEST(RcanConfig, JsonRoundTrip) {
  RcanConfig cfg = tiny("rcau_spatial");
  cfg.input_width = 96;
  auto back = RcanConfig::from_json(cfg.to_json());
  EXPECT_EQ(back, cfg);
  EXPECT_EQ(RcanConfig::from_json("{}"), RcanConfig{});
  // The context flag round-trips, and files without it (older ones) read as off.
  cfg.decoder_context = true;
  EXPECT_EQ(RcanConfig::from_json(cfg.to_json()), cfg);
  EXPECT_FALSE(RcanConfig::from_json(tiny().to_json()).decoder_context);
  EXPECT_EQ(tiny().to_json().find("decoder_context"), std::string::npos);
  for (const char* blocks : {"separable", "separable_stages"}) {
    cfg.decoder_blocks = blocks;
    EXPECT_EQ(RcanConfig::from_json(cfg.to_json()), cfg);
  }
  EXPECT_EQ(RcanConfig::from_json(tiny().to_json()).decoder_blocks, "dense");
  EXPECT_EQ(tiny().to_json().find("decoder_blocks"), std::string::npos);
}

// The separable decoders: depthwise + pointwise blocks, bilinear stages (no
// deconvolution), dense or separable blocks at stride 16 as named, the same
// output shape, and far fewer weights at the shipped widths; the inference
// path (channels-last, oneDNN) computes what the training path (NCHW) does.
TEST(Rcan, SeparableDecodersAreLighterAndMatchTheirTrainingPath) {
  auto decoder_params = [](const Rcan& net) {
    int64_t n = 0;
    for (const auto& p : net->decoder->parameters()) n += p.numel();
    return n;
  };
  RcanConfig cfg = tiny();
  cfg.sir_channels = cfg.decoder_channels = 128;
  cfg.decoder_context = true;
  torch::manual_seed(0);
  Rcan dense(cfg);
  for (const std::string blocks : {"separable_stages", "separable"}) {
    SCOPED_TRACE(blocks);
    cfg.decoder_blocks = blocks;
    torch::manual_seed(0);
    Rcan sep(cfg);
    ASSERT_EQ(sep->decoder->stages.size(), 2u);
    for (const auto& st : sep->decoder->stages) {
      EXPECT_FALSE(st.up);
      ASSERT_TRUE(st.conv.separable);
      EXPECT_EQ(st.conv.separable->depthwise->options.groups(),
                st.conv.separable->depthwise->weight.size(0));
    }
    const bool all = blocks == "separable";
    EXPECT_EQ(static_cast<bool>(sep->decoder->context_dilated.separable), all);
    EXPECT_EQ(static_cast<bool>(sep->decoder->conv_mid.dense), !all);
    EXPECT_LT(decoder_params(sep) * 5, decoder_params(dense) * 3)
        << decoder_params(sep) << " vs " << decoder_params(dense);

    sep->eval();
    torch::Tensor images = torch::rand({2, 3, 64, 64});
    torch::Tensor train_path, inference_path;
    train_path = sep->forward(images).logits.detach();  // gradients on: the NCHW graph
    {
      c10::InferenceMode guard;
      inference_path = sep->forward(images.contiguous(at::MemoryFormat::ChannelsLast)).logits;
    }
    EXPECT_EQ(inference_path.sizes(), (std::vector<int64_t>{2, 1, 64, 64}));
    EXPECT_TRUE(torch::allclose(inference_path, train_path, 1e-4, 1e-4))
        << (inference_path - train_path).abs().max().item<float>();
  }
}

TEST(Rcan, DecoderContextSeesTheWholeImage) {
  // Without context, a logit at one corner depends only on nearby cells; the
  // image-pooling branch makes it depend on a change at the far corner too.
  for (bool context : {false, true}) {
    SCOPED_TRACE(context);
    RcanConfig cfg = tiny("baseline");
    cfg.decoder_context = context;
    torch::manual_seed(0);
    Rcan net(cfg);
    EXPECT_EQ(static_cast<bool>(net->decoder->context_pool), context);
    net->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor a = torch::rand({1, 3, 128, 128});
    torch::Tensor b = a.clone();
    b.slice(2, 112, 128).slice(3, 112, 128).uniform_();
    const auto la = net->forward(a).logits, lb = net->forward(b).logits;
    EXPECT_EQ(la.sizes(), (std::vector<int64_t>{1, 1, 128, 128}));
    const double far = (la[0][0][0][0] - lb[0][0][0][0]).abs().item<double>();
    if (context)
      EXPECT_GT(far, 0.0);
    else
      EXPECT_EQ(far, 0.0);
  }
}

TEST(RcanConfig, RejectsBadJson) {
  for (const char* bad :
       {"", "[1]", "{\"backbone\": \"resnet\"}", "{\"variant\": \"lstm\"}", "{\"sir_channels\": 0}",
        "{\"sir_channels\": \"64\"}", "{\"input_width\": -16}", "{\"input_height\": 1e9}",
        "{\"colour\": 1}", "{\"backbone\": ", "{\"decoder_context\": 1}",
        "{\"decoder_blocks\": true}", "{\"decoder_blocks\": \"sparse\"}"}) {
    EXPECT_THROW(RcanConfig::from_json(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
