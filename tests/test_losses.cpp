// The per-image BCE and the co-perceptual loss.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "backbone.h"
#include "losses.h"

namespace {

TEST(SaliencyLoss, MatchesHandComputation) {
  const float logits[4] = {2.0f, -1.0f, 0.0f, 3.5f};
  const float gt[4] = {1.0f, 0.0f, 0.25f, 0.0f};
  double expect = 0;
  for (int i = 0; i < 4; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-logits[i]));
    expect += -(gt[i] * std::log(p) + (1 - gt[i]) * std::log(1 - p));
  }
  expect /= 4;
  auto l = cosal::saliency_loss(torch::tensor({2.0f, -1.0f, 0.0f, 3.5f}).reshape({1, 1, 2, 2}),
                                torch::tensor({1.0f, 0.0f, 0.25f, 0.0f}).reshape({1, 1, 2, 2}));
  EXPECT_NEAR(l.item<double>(), expect, 1e-6);
  // Large logits stay finite (the log-sum-exp form, not log(sigmoid)).
  auto big = cosal::saliency_loss(torch::full({1, 1, 1, 1}, 200.0f), torch::zeros({1, 1, 1, 1}));
  EXPECT_NEAR(big.item<double>(), 200.0, 1e-3);
}

TEST(SoftIouLoss, MatchesAHandComputedPairAndIsZeroForAPerfectMap) {
  // Two images: p = sigmoid(logits) against g, computed by hand.
  const float logits[] = {2.0f, -1.0f, 0.0f, 3.5f, -50.0f, -50.0f, -50.0f, -50.0f};
  const float gt[] = {1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  double inter = 0, uni = 0;
  for (int i = 0; i < 4; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-logits[i]));
    inter += p * gt[i];
    uni += p + gt[i] - p * gt[i];
  }
  // Image 2 is all background with p ~ 0: loss ~ 0 (not NaN).
  const double expect = ((1.0 - (inter + 1e-6) / (uni + 1e-6)) + 0.0) / 2.0;
  auto l = cosal::soft_iou_loss(torch::from_blob(const_cast<float*>(logits), {2, 1, 2, 2}),
                                torch::from_blob(const_cast<float*>(gt), {2, 1, 2, 2}));
  EXPECT_NEAR(l.item<double>(), expect, 1e-5);
  auto perfect = cosal::soft_iou_loss(torch::tensor({50.0f, -50.0f}).reshape({1, 1, 1, 2}),
                                      torch::tensor({1.0f, 0.0f}).reshape({1, 1, 1, 2}));
  EXPECT_NEAR(perfect.item<double>(), 0.0, 1e-6);
  // Gradient pushes the missed foreground pixel up.
  auto lg = torch::zeros({1, 1, 1, 2}, torch::requires_grad());
  cosal::soft_iou_loss(lg, torch::tensor({1.0f, 0.0f}).reshape({1, 1, 1, 2})).backward();
  EXPECT_LT(lg.grad()[0][0][0][0].item<float>(), 0.0f);
  EXPECT_GT(lg.grad()[0][0][0][1].item<float>(), 0.0f);
}

struct Phi {
  Phi() {
    torch::manual_seed(3);
    net = cosal::make_backbone("tiny");
  }
  std::shared_ptr<cosal::BackboneImpl> net;
};

TEST(CoPerceptualLoss, ZeroForAGroupOfOne) {
  Phi phi;
  auto masks = torch::rand({1, 1, 32, 32}, torch::requires_grad());
  auto l = cosal::co_perceptual_loss(*phi.net, masks, torch::rand({1, 3, 32, 32}),
                                     torch::rand({1, 1, 32, 32}));
  EXPECT_EQ(l.item<double>(), 0.0);
}

TEST(CoPerceptualLoss, ZeroWhenMasksEqualGroundTruthOnIdenticalImages) {
  Phi phi;
  torch::manual_seed(1);
  auto image = torch::rand({1, 3, 32, 32});
  auto gt = (torch::rand({1, 1, 32, 32}) > 0.5).to(torch::kFloat);
  auto images = image.repeat({3, 1, 1, 1});
  auto gts = gt.repeat({3, 1, 1, 1});
  auto l = cosal::co_perceptual_loss(*phi.net, gts.clone(), images, gts);
  EXPECT_EQ(l.item<double>(), 0.0);
}

TEST(CoPerceptualLoss, MatchesDefinition) {
  Phi phi;
  torch::manual_seed(2);
  const int64_t n = 3;
  auto images = torch::rand({n, 3, 32, 32});
  auto masks = torch::rand({n, 1, 32, 32});
  auto gts = (torch::rand({n, 1, 32, 32}) > 0.5).to(torch::kFloat);
  auto a = phi.net->perceptual_features(masks * images);
  auto b = phi.net->perceptual_features(gts * images);
  double expect = 0;
  for (size_t l = 0; l < a.size(); ++l) {
    const double v = static_cast<double>(a[l][0].numel());
    double layer = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t m = 0; m < n; ++m)
        if (m != i) layer += (a[l][i] - b[l][m]).pow(2).sum().item<double>() / (v * (n - 1));
    expect += layer / n;
  }
  expect /= static_cast<double>(a.size());
  auto got = cosal::co_perceptual_loss(*phi.net, masks, images, gts).item<double>();
  EXPECT_GT(got, 0.0);
  EXPECT_NEAR(got, expect, 1e-5 * expect);
}

TEST(CoPerceptualLoss, GradientReachesMasksNotPhi) {
  Phi phi;
  torch::manual_seed(4);
  auto images = torch::rand({2, 3, 32, 32});
  auto masks = torch::rand({2, 1, 32, 32}, torch::requires_grad());
  auto gts = (torch::rand({2, 1, 32, 32}) > 0.5).to(torch::kFloat);
  auto l = cosal::co_perceptual_loss(*phi.net, masks, images, gts);
  EXPECT_GT(l.item<double>(), 0.0);
  l.backward();
  ASSERT_TRUE(masks.grad().defined());
  EXPECT_GT(masks.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : phi.net->named_parameters()) {
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(p.value().requires_grad()) << p.key() << " not restored";
  }
}

TEST(CoPerceptualLoss, RejectsMismatchedShapes) {
  Phi phi;
  EXPECT_THROW(cosal::co_perceptual_loss(*phi.net, torch::rand({2, 1, 32, 32}),
                                         torch::rand({3, 3, 32, 32}), torch::rand({2, 1, 32, 32})),
               c10::Error);
  EXPECT_THROW(cosal::co_perceptual_loss(*phi.net, torch::rand({2, 1, 32, 32}),
                                         torch::rand({2, 3, 32, 32}), torch::rand({2, 1, 16, 16})),
               c10::Error);
}

}  // namespace

TEST(Losses, BoundaryWeightsPeakAtTheEdgeAndWeightBothLosses) {
  // A 16x16 square in a 32x32 mask: weight 1 deep inside and far outside,
  // largest on the boundary.
  torch::Tensor gt = torch::zeros({1, 1, 32, 32});
  gt.slice(2, 8, 24).slice(3, 8, 24).fill_(1);
  const torch::Tensor w = cosal::boundary_weights(gt, 5.0, 7);
  EXPECT_FLOAT_EQ(w[0][0][16][16].item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(w[0][0][0][0].item<float>(), 1.0F);
  EXPECT_GT(w[0][0][8][16].item<float>(), 2.0F);  // on the edge: about half the window differs
  EXPECT_LE(w.max().item<float>(), 6.0F);
  EXPECT_THROW(cosal::boundary_weights(gt, 5.0, 6), c10::Error);

  // Uniform weights change nothing; an error on the edge costs more when
  // weighted than the same error deep inside.
  const torch::Tensor logits = (gt * 2 - 1) * 4;
  const torch::Tensor ones = torch::ones_like(gt);
  EXPECT_NEAR(cosal::saliency_loss(logits, gt, ones).item<double>(),
              cosal::saliency_loss(logits, gt).item<double>(), 1e-6);
  EXPECT_NEAR(cosal::soft_iou_loss(logits, gt, ones).item<double>(),
              cosal::soft_iou_loss(logits, gt).item<double>(), 1e-6);
  torch::Tensor edge_wrong = logits.clone(), inside_wrong = logits.clone();
  edge_wrong[0][0][8].slice(0, 10, 14).fill_(-4);
  inside_wrong[0][0][16].slice(0, 10, 14).fill_(-4);
  EXPECT_NEAR(cosal::saliency_loss(edge_wrong, gt).item<double>(),
              cosal::saliency_loss(inside_wrong, gt).item<double>(), 1e-6);
  EXPECT_GT(cosal::saliency_loss(edge_wrong, gt, w).item<double>(),
            cosal::saliency_loss(inside_wrong, gt, w).item<double>());
  EXPECT_GT(cosal::soft_iou_loss(edge_wrong, gt, w).item<double>(),
            cosal::soft_iou_loss(inside_wrong, gt, w).item<double>());
}
