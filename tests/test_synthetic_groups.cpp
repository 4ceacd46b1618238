// Synthetic groups: masks are the pasted alpha, distractors appear in one
// member only and are labelled background, backgrounds are object-free.
#include <gtest/gtest.h>

#include <set>

#include "synthetic_groups.h"

using namespace cosal;
using namespace cosal::train;

namespace {

// A textured disc with a soft edge (straight alpha), like a cut-out photo.
Image disc_stamp(int size, uint8_t tint) {
  Image img(size, size, 4);
  const double r = size / 2.0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      uint8_t* p = img.row(y) + x * 4;
      const double d = std::hypot(x + 0.5 - r, y + 0.5 - r);
      p[0] = static_cast<uint8_t>((x * 7 + y * 3) % 256);
      p[1] = static_cast<uint8_t>((x * y + tint) % 256);
      p[2] = tint;
      p[3] = static_cast<uint8_t>(std::clamp((r - d) * 64.0, 0.0, 255.0));
    }
  return img;
}

std::vector<Image> backgrounds(int n, int size) {
  std::vector<Image> out;
  for (int i = 0; i < n; ++i) out.emplace_back(size, size, 3, static_cast<uint8_t>(20 + 30 * i));
  return out;
}

}  // namespace

TEST(SyntheticGroups, MaskIsThePastedAlphaOnDifferentBackgrounds) {
  const std::vector<Stamp> stamps = {make_stamp("a", disc_stamp(40, 200))};
  const auto bgs = backgrounds(6, 64);
  Rng rng(7);
  SynthesisOptions o;
  o.size = 64;
  o.colour_jitter = false;
  const SyntheticGroup g = make_synthetic_group(stamps, bgs, 5, false, rng, o);
  ASSERT_EQ(g.members.size(), 5u);
  EXPECT_EQ(g.distractor, -1);
  std::set<int> used;
  for (const auto& m : g.members) {
    used.insert(m.background);
    const Image& bg = bgs[m.background];
    int64_t fg = 0;
    for (size_t i = 0; i < m.mask.pixels.size(); ++i) {
      const uint8_t a = m.mask.pixels[i];
      fg += a > 127;
      // Where the mask is 0 the background is untouched; where it is 255 the
      // pixel is the stamp's, not the background's.
      if (a == 0) {
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(m.image.pixels[i * 3 + c], bg.pixels[i * 3 + c]);
        }
      }
      if (a == 255) {
        EXPECT_NEAR(m.image.pixels[i * 3 + 2], 200, 4);  // the stamp's blue
      }
      EXPECT_EQ(m.distractor_alpha.pixels[i], 0);
    }
    EXPECT_GT(fg, 50) << "the object should be visible";
  }
  EXPECT_EQ(used.size(), 5u) << "members must use different backgrounds";
  EXPECT_THROW(make_synthetic_group(stamps, bgs, 7, false, rng, o), std::invalid_argument);
}

TEST(SyntheticGroups, DistractorInOneMemberOnlyAndLabelledBackground) {
  const std::vector<Stamp> stamps = {make_stamp("a", disc_stamp(30, 250)),
                                     make_stamp("b", disc_stamp(30, 5))};
  const auto bgs = backgrounds(4, 64);
  SynthesisOptions o;
  o.size = 64;
  o.distractor_probability = 1.0;
  o.colour_jitter = false;
  Rng rng(3);
  int reps_visible = 0;
  for (int rep = 0; rep < 10; ++rep) {
    const SyntheticGroup g = make_synthetic_group(stamps, bgs, 4, true, rng, o);
    ASSERT_NE(g.distractor, -1);
    ASSERT_NE(g.distractor, g.stamp);
    ASSERT_GE(g.distractor_member, 0);
    for (int m = 0; m < 4; ++m) {
      const auto& mem = g.members[m];
      int64_t visible = 0;
      for (size_t i = 0; i < mem.mask.pixels.size(); ++i) {
        const uint8_t d = mem.distractor_alpha.pixels[i];
        if (m != g.distractor_member) {
          ASSERT_EQ(d, 0) << "distractor leaked into member " << m;
          continue;
        }
        if (d > 127) {
          ++visible;
          // Visible distractor pixels are background in the mask.
          EXPECT_LT(mem.mask.pixels[i], 128);
        }
        if (d > 200 && mem.mask.pixels[i] < 10) {
          // ... and show the distractor's blue, not the background's.
          const int tint = g.distractor == 0 ? 250 : 5;
          const int blue = mem.image.pixels[i * 3 + 2];
          const int bg = bgs[mem.background].pixels[i * 3 + 2];
          EXPECT_LT(std::abs(blue - tint) + 10, std::abs(bg - tint));
        }
      }
      if (m == g.distractor_member && visible > 0) ++reps_visible;
    }
  }
  // It may hide behind the common object now and then, not usually.
  EXPECT_GE(reps_visible, 7);
  // The baseline variant never gets distractors.
  const SyntheticGroup plain = make_synthetic_group(stamps, bgs, 3, false, rng, o);
  EXPECT_EQ(plain.distractor, -1);
}

TEST(SyntheticGroups, ObjectFreeCropsAvoidTheAnnotatedObject) {
  // A 200x100 frame whose left 80 columns are the annotated object.
  Image frame(200, 100, 3, 90), mask(200, 100, 1, 0);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 80; ++x) mask.row(y)[x] = 255;
  Rng rng(11);
  int found = 0;
  for (int i = 0; i < 50; ++i) {
    Image crop;
    Rect r;
    if (!object_free_crop(frame, mask, rng, 32, 0.005, 20, &crop, &r)) continue;
    ++found;
    EXPECT_GE(r.x, 80 - 1) << "crop overlaps the object";
    EXPECT_EQ(crop.width, 32);
    EXPECT_EQ(crop.channels, 3);
  }
  EXPECT_GT(found, 0);
  // A frame that is all object gives no crop.
  Image full(50, 50, 1, 255);
  Image crop;
  EXPECT_FALSE(object_free_crop(Image(50, 50, 3), full, rng, 16, 0.005, 30, &crop));
}

TEST(SyntheticGroups, StampFilterRejectsSymbolsAndFlatDrawings) {
  std::string why;
  const Image photo = disc_stamp(64, 128);
  EXPECT_TRUE(is_photographic("animals/mammals/cat.png", photo, &why)) << why;
  EXPECT_FALSE(is_photographic("symbols/math/plus.png", photo, &why));
  EXPECT_NE(why.find("symbols"), std::string::npos);
  Image flat(64, 64, 4, 255);  // opaque rectangle, one colour
  EXPECT_FALSE(is_photographic("food/box.png", flat, &why));
  Image drawn = disc_stamp(64, 128);
  for (size_t i = 0; i < drawn.pixels.size(); i += 4) drawn.pixels[i] = drawn.pixels[i + 1] = 0;
  EXPECT_FALSE(is_photographic("food/drawn.png", drawn, &why));
  EXPECT_NE(why.find("colours"), std::string::npos) << why;
}

// A labelled photo's object becomes a stamp: its mask's bounding box plus a
// pixel of margin, the mask as alpha, the colour premultiplied by it.
TEST(SyntheticGroups, CutoutStampIsTheMaskedObjectWithItsMaskAsAlpha) {
  Image rgb(20, 10, 3), mask(20, 10, 1);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 20; ++x) {
      uint8_t* p = rgb.row(y) + x * 3;
      p[0] = static_cast<uint8_t>(10 * x);
      p[1] = static_cast<uint8_t>(20 * y);
      p[2] = 255;
      // The object: x 6..9, y 3..5 opaque; a soft pixel (128) right of it.
      mask.row(y)[x] = (x >= 6 && x <= 9 && y >= 3 && y <= 5) ? 255 : (x == 10 && y == 4) ? 128 : 0;
    }
  Stamp s;
  ASSERT_TRUE(cutout_stamp("photo.jpg", rgb, mask, 256, &s, 0.01, 0.6));
  EXPECT_EQ(s.path, "photo.jpg");
  // Object pixels (mask > 127) span x 6..10, y 3..5; with the margin 5..11, 2..6.
  ASSERT_EQ(s.rgba.width, 7);
  ASSERT_EQ(s.rgba.height, 5);
  ASSERT_EQ(s.rgba.channels, 4);
  auto px = [&](int x, int y) { return s.rgba.row(y - 2) + (x - 5) * 4; };
  EXPECT_EQ(px(5, 2)[3], 0) << "the margin is transparent";
  EXPECT_EQ(px(7, 4)[3], 255);
  EXPECT_EQ(px(7, 4)[0], 70);
  EXPECT_EQ(px(7, 4)[1], 80);
  EXPECT_EQ(px(10, 4)[3], 128) << "a soft edge stays soft";
  EXPECT_EQ(px(10, 4)[2], (255 * 128 + 127) / 255) << "premultiplied";
  EXPECT_EQ(px(10, 4)[0], (100 * 128 + 127) / 255);

  // 13 of 200 pixels are object: under 10 % is too small, over 5 % too large.
  EXPECT_FALSE(cutout_stamp("photo.jpg", rgb, mask, 256, &s, 0.1, 0.6));
  EXPECT_FALSE(cutout_stamp("photo.jpg", rgb, mask, 256, &s, 0.01, 0.05));
  EXPECT_FALSE(cutout_stamp("photo.jpg", rgb, Image(20, 10, 1), 256, &s)) << "no object";
  EXPECT_THROW(cutout_stamp("photo.jpg", rgb, Image(10, 10, 1), 256, &s), ImageError);

  // Larger than max_side: scaled down, aspect kept.
  Image big(400, 200, 3, 90), big_mask(400, 200, 1, 255);
  ASSERT_TRUE(cutout_stamp("big.jpg", big, big_mask, 100, &s, 0.01, 1.0));
  EXPECT_EQ(s.rgba.width, 100);
  EXPECT_EQ(s.rgba.height, 50);
}
