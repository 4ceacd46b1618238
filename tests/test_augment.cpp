// On-the-fly augmentation: masks follow their images' geometry exactly,
// colours stay in range, and the trainer's seed reproduces every draw.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "augment.h"
#include "random.h"

using namespace cosal::train;

namespace {

// Four 48x64 images whose red channel IS the mask (a square at a different
// place in each), green and blue textured.
std::pair<torch::Tensor, torch::Tensor> batch() {
  torch::manual_seed(3);
  torch::Tensor masks = torch::zeros({4, 1, 48, 64});
  for (int64_t k = 0; k < 4; ++k)
    masks[k].slice(1, 5 + 8 * k, 20 + 8 * k).slice(2, 10, 30).fill_(1);
  torch::Tensor images = torch::cat({masks, torch::rand({4, 2, 48, 64})}, 1);
  return {images, masks};
}

}  // namespace

TEST(Augment, MasksFollowTheirImagesGeometry) {
  auto [images, masks] = batch();
  Rng rng(11);
  AugmentOptions o;
  o.colour = 0;  // geometry only: the red channel must still equal the mask
  o.max_zoom = 2.0;
  bool changed = false;
  for (int rep = 0; rep < 10; ++rep) {
    auto [ai, am] = augment_batch(images, masks, rng, o);
    ASSERT_EQ(ai.sizes(), images.sizes());
    ASSERT_EQ(am.sizes(), masks.sizes());
    EXPECT_TRUE(torch::allclose(ai.select(1, 0), am.select(1, 0), 1e-5, 1e-5));
    changed = changed || !torch::allclose(am, masks);
  }
  EXPECT_TRUE(changed) << "ten draws left every mask as it was";
}

TEST(Augment, ColoursStayInRangeAndVary) {
  auto [images, masks] = batch();
  Rng rng(5);
  AugmentOptions o;
  o.max_zoom = 1.0;
  o.flip = 0;  // colour only: the masks are untouched
  auto [ai, am] = augment_batch(images, masks, rng, o);
  EXPECT_TRUE(torch::equal(am, masks));
  EXPECT_GE(ai.min().item<float>(), 0.0F);
  EXPECT_LE(ai.max().item<float>(), 1.0F);
  EXPECT_FALSE(torch::allclose(ai, images, 1e-3, 1e-3));
}

TEST(Augment, SameSeedSameBatch) {
  auto [images, masks] = batch();
  Rng a(42), b(42), c(43);
  auto [ia, ma] = augment_batch(images, masks, a);
  auto [ib, mb] = augment_batch(images, masks, b);
  auto [ic, mc] = augment_batch(images, masks, c);
  EXPECT_TRUE(torch::equal(ia, ib));
  EXPECT_TRUE(torch::equal(ma, mb));
  EXPECT_FALSE(torch::equal(ia, ic));
  EXPECT_EQ(a.state(), b.state());
}

TEST(Augment, OneDrawForAllKeepsAVideoGroupOneView) {
  // Four copies of one image: one draw for all leaves them equal; own draws
  // (the default) make them differ.
  auto [images, masks] = batch();
  const torch::Tensor same_i = images.slice(0, 0, 1).repeat({4, 1, 1, 1});
  const torch::Tensor same_m = masks.slice(0, 0, 1).repeat({4, 1, 1, 1});
  Rng rng(9);
  auto [gi, gm] = augment_batch(same_i, same_m, rng, {}, /*one_draw_for_all=*/true);
  EXPECT_EQ(gi.sizes(), same_i.sizes());
  for (int64_t k = 1; k < 4; ++k) {
    EXPECT_TRUE(torch::equal(gi[k], gi[0])) << k;
    EXPECT_TRUE(torch::equal(gm[k], gm[0])) << k;
  }
  EXPECT_FALSE(torch::allclose(gi, same_i, 1e-3, 1e-3));
  auto [ii, im] = augment_batch(same_i, same_m, rng);
  EXPECT_FALSE(torch::equal(ii[1], ii[0]));
}
