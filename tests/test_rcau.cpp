// The RCAU's gate arithmetic against a hand-worked example, G_0 = X_1, and
// the ablation variants' gate formulas.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "rcan.h"
#include "rcau.h"

namespace {

using cosal::Rcau;
using cosal::RcauOptions;

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// C = 2, h = w = 2. Values chosen so every gate term is distinct and one
// hidden unit of the spatial FC is cut by the ReLU.
const double kX[2][2][2] = {{{1, 2}, {3, 4}}, {{0, 0}, {1, 1}}};
const double kG[2][2][2] = {{{2, 2}, {2, 2}}, {{1, 0}, {1, 0}}};

torch::Tensor tensor_of(const double (&v)[2][2][2]) {
  auto t = torch::empty({1, 2, 2, 2});
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) t[0][c][y][x] = v[c][y][x];
  return t;
}

void set(torch::Tensor& param, std::vector<float> values) {
  torch::NoGradGuard no_grad;
  param.copy_(torch::tensor(values).reshape(param.sizes()));
}

Rcau hand_rcau(bool reset = true, bool spatial = true, bool channel = true) {
  RcauOptions o;
  o.channels = 2;
  o.grid_height = o.grid_width = 2;
  o.spatial_hidden = 2;
  o.reset_gate = reset;
  o.spatial_attention = spatial;
  o.channel_attention = channel;
  Rcau r(o);
  if (reset) {
    // D_0 = sigmoid(G_0), D_1 = sigmoid(X_1 - 1): rows of W_d over [G0, G1, X0, X1].
    set(r->w_d->weight, {1, 0, 0, 0, 0, 0, 0, 1});
    set(r->w_d->bias, {0, -1});
  }
  if (spatial) {
    set(r->w1s->weight, {1, 1, 1, 1, 0, 0, 0, -1});
    set(r->w1s->bias, {0, 0.5});
    set(r->w2s->weight, {1, 1, 0, 0.5, 2, 0, 0, -1});
    set(r->w2s->bias, {0.1, 0.2, 0.3, 0.4});
  }
  if (channel) {
    set(r->w_c->weight, {1, 2, -1, 0.5});
    set(r->w_c->bias, {0.25, 0});
  }
  return r;
}

TEST(Rcau, GatesMatchHandComputation) {
  auto r = hand_rcau();
  auto gates = r->gates(tensor_of(kG), tensor_of(kX));

  // Z_n = G - X: channel 0 [[1,0],[-1,-2]], channel 1 [[1,0],[0,-1]].
  // Cross-channel average [1, 0, -0.5, -1.5]; W1s: [-1, 2] -> ReLU [0, 2];
  // W2s: [2.1, 1.2, 0.3, -1.6].
  const double zs[2][2] = {{2.1, 1.2}, {0.3, -1.6}};
  // Spatial averages [-0.5, 0]; W_c: [-0.5 + 0.25, 0.5] = [-0.25, 0.5].
  const double zc[2] = {-0.25, 0.5};
  ASSERT_EQ(gates.z_s.sizes(), (std::vector<int64_t>{1, 1, 2, 2}));
  ASSERT_EQ(gates.z_c.sizes(), (std::vector<int64_t>{1, 2, 1, 1}));
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_NEAR(gates.z_s[0][0][y][x].item<double>(), zs[y][x], 1e-6);
  for (int c = 0; c < 2; ++c) EXPECT_NEAR(gates.z_c[0][c][0][0].item<double>(), zc[c], 1e-6);

  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 2; ++x) {
        const double d = c == 0 ? sigmoid(kG[0][y][x]) : sigmoid(kX[1][y][x] - 1);
        const double x_tilde = kX[c][y][x] * d;
        const double z = sigmoid(zs[y][x] * zc[c]);
        const double g = z * kG[c][y][x] + (1 - z) * x_tilde;
        EXPECT_NEAR(gates.d[0][c][y][x].item<double>(), d, 1e-6) << c << y << x;
        EXPECT_NEAR(gates.x_tilde[0][c][y][x].item<double>(), x_tilde, 1e-6) << c << y << x;
        EXPECT_NEAR(gates.z[0][c][y][x].item<double>(), z, 1e-6) << c << y << x;
        EXPECT_NEAR(gates.g[0][c][y][x].item<double>(), g, 1e-6) << c << y << x;
      }
    }
  }
  EXPECT_TRUE(torch::equal(r->forward(tensor_of(kG), tensor_of(kX)), gates.g));
}

TEST(Rcau, NoResetVariantUsesXDirectly) {
  auto r = hand_rcau(/*reset=*/false);
  EXPECT_FALSE(r->w_d);
  auto gates = r->gates(tensor_of(kG), tensor_of(kX));
  EXPECT_FALSE(gates.d.defined());
  EXPECT_TRUE(torch::equal(gates.x_tilde, tensor_of(kX)));
  auto expect = gates.z * tensor_of(kG) + (1 - gates.z) * tensor_of(kX);
  EXPECT_TRUE(torch::allclose(gates.g, expect, 1e-6, 1e-6));
}

TEST(Rcau, SpatialOnlyGate) {
  auto r = hand_rcau(true, /*spatial=*/true, /*channel=*/false);
  EXPECT_FALSE(r->w_c);
  auto gates = r->gates(tensor_of(kG), tensor_of(kX));
  EXPECT_FALSE(gates.z_c.defined());
  const double zs[2][2] = {{2.1, 1.2}, {0.3, -1.6}};
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x)
        EXPECT_NEAR(gates.z[0][c][y][x].item<double>(), sigmoid(zs[y][x]), 1e-6);
}

TEST(Rcau, ChannelOnlyGate) {
  auto r = hand_rcau(true, /*spatial=*/false, /*channel=*/true);
  EXPECT_FALSE(r->w1s);
  EXPECT_FALSE(r->w2s);
  auto gates = r->gates(tensor_of(kG), tensor_of(kX));
  EXPECT_FALSE(gates.z_s.defined());
  const double zc[2] = {-0.25, 0.5};
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x)
        EXPECT_NEAR(gates.z[0][c][y][x].item<double>(), sigmoid(zc[c]), 1e-6);
}

TEST(Rcau, RejectsGateWithoutAttention) {
  RcauOptions o;
  o.spatial_attention = o.channel_attention = false;
  EXPECT_THROW(Rcau{o}, std::invalid_argument);
}

TEST(Rcau, AnyFeatureMapSize) {
  // The spatial FC sees a fixed grid; other sizes are pooled to it and back.
  auto r = hand_rcau();
  torch::manual_seed(1);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{4, 4}, {3, 5}, {1, 1}, {2, 2}}) {
    auto g = torch::randn({1, 2, h, w}), x = torch::randn({1, 2, h, w});
    auto gates = r->gates(g, x);
    EXPECT_EQ(gates.g.sizes(), g.sizes());
    EXPECT_EQ(gates.z_s.sizes(), (std::vector<int64_t>{1, 1, h, w}));
  }
  // A map of one value pooled to the grid is that value everywhere, so Z_s
  // at 4x4 is Z_s of the native 2x2 map of that value, resized.
  auto g4 = torch::full({1, 2, 4, 4}, 0.7), x4 = torch::zeros({1, 2, 4, 4});
  auto g2 = torch::full({1, 2, 2, 2}, 0.7), x2 = torch::zeros({1, 2, 2, 2});
  auto zs4 = r->gates(g4, x4).z_s, zs2 = r->gates(g2, x2).z_s;
  auto resized =
      torch::nn::functional::interpolate(zs2, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{4, 4})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  EXPECT_TRUE(torch::allclose(zs4, resized, 1e-6, 1e-6));
}

TEST(Rcan, GroupStartsFromFirstFeature) {
  cosal::RcanConfig cfg;
  cfg.backbone = "tiny";
  cfg.input_width = cfg.input_height = 64;
  torch::manual_seed(0);
  cosal::Rcan net(cfg);
  auto x = torch::randn({3, 32, 4, 4});
  // G_0 = X_1: a first step returns X_1 itself, and a group of one is X_1.
  auto x1 = x.narrow(0, 0, 1);
  EXPECT_TRUE(torch::equal(net->group_step({}, x1), x1));
  EXPECT_TRUE(torch::equal(net->group_feature(x1), x1));
  // Then one RCAU step per further frame, in order.
  auto expect = net->rcau(net->rcau(x1, x.narrow(0, 1, 1)), x.narrow(0, 2, 1));
  EXPECT_TRUE(torch::allclose(net->group_feature(x), expect, 1e-6, 1e-6));
  // Order matters: the unit is recurrent, not a symmetric pooling.
  auto reversed = x.flip(0);
  EXPECT_FALSE(torch::allclose(net->group_feature(reversed), expect, 1e-4, 1e-4));
}

TEST(Rcan, ConvGruVariantIsAStandardGru) {
  cosal::RcanConfig cfg;
  cfg.backbone = "tiny";
  cfg.variant = "convgru";
  cfg.input_width = cfg.input_height = 64;
  torch::manual_seed(0);
  cosal::Rcan net(cfg);
  ASSERT_TRUE(net->convgru);
  EXPECT_FALSE(net->rcau);
  auto g = torch::randn({1, 32, 4, 4}), x = torch::randn({1, 32, 4, 4});
  auto ru = torch::sigmoid(net->convgru->gates(torch::cat({g, x}, 1))).chunk(2, 1);
  auto cand = torch::tanh(net->convgru->candidate(torch::cat({ru[0] * g, x}, 1)));
  auto expect = ru[1] * g + (1 - ru[1]) * cand;
  // (oneDNN and the reference convolution differ in summation order.)
  EXPECT_TRUE(torch::allclose(net->group_step(g, x), expect, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(net->group_step({}, x), x));
}

}  // namespace
