// On-the-fly augmentation: masks follow their images' geometry exactly,
// colours stay in range, and the trainer's seed reproduces every draw.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

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

// A still's views: each its own framing of the one photo, the mask framed
// with it, at the requested size; the seed reproduces them.
TEST(Augment, StillViewsFrameOnePhotoEachDifferently) {
  // A 90x60 photo whose red channel IS the mask (an off-centre square).
  cosal::Image photo(90, 60, 3), mask(90, 60, 1);
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 90; ++x) {
      const bool in = x >= 10 && x < 40 && y >= 15 && y < 45;
      photo.row(y)[3 * x] = in ? 255 : 0;
      photo.row(y)[3 * x + 1] = static_cast<uint8_t>((x * 7 + y * 3) % 256);
      photo.row(y)[3 * x + 2] = static_cast<uint8_t>((x * y) % 256);
      mask.row(y)[x] = in ? 255 : 0;
    }
  AugmentOptions geometry;
  geometry.colour = 0;
  geometry.max_zoom = 2.0;
  Rng rng(7);
  const auto views = still_views(photo, mask, 6, 32, 24, rng, geometry);
  ASSERT_EQ(views.size(), 6u);
  int distinct = 0;
  for (size_t k = 0; k < views.size(); ++k) {
    const auto& [v, m] = views[k];
    ASSERT_EQ(v.width, 32);
    ASSERT_EQ(v.height, 24);
    ASSERT_EQ(v.channels, 3);
    ASSERT_EQ(m.width, 32);
    ASSERT_EQ(m.channels, 1);
    int worst = 0;
    for (int y = 0; y < 24; ++y)
      for (int x = 0; x < 32; ++x) worst = std::max(worst, std::abs(v.row(y)[3 * x] - m.row(y)[x]));
    EXPECT_LE(worst, 2) << "view " << k << ": the mask left its object";
    if (k > 0 && m.pixels != views[0].second.pixels) ++distinct;
  }
  EXPECT_GE(distinct, 3) << "the views should frame the photo differently";

  Rng again(7);
  const auto same = still_views(photo, mask, 6, 32, 24, again, geometry);
  for (size_t k = 0; k < views.size(); ++k)
    EXPECT_EQ(same[k].first.pixels, views[k].first.pixels) << "view " << k;
  EXPECT_THROW(still_views(photo, mask, 0, 32, 24, again), std::invalid_argument);
}
