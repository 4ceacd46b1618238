// The training pool's feature cache on disk: a file is only reused for the
// same images encoded by the same backbone weights.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "backbone.h"
#include "feature_cache.h"
#include "image.h"

namespace fs = std::filesystem;
using namespace cosal;
using namespace cosal::train;

namespace {

// Two 64x64 images with distinct content, and the same pool in a fresh cache.
void fill(FeatureCache& cache, int shift) {
  for (int k = 0; k < 2; ++k) {
    Image rgb(64, 64, 3), mask(64, 64, 1);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        uint8_t* px = rgb.row(y) + x * 3;
        px[0] = static_cast<uint8_t>((x * 3 + y + k * 50 + shift) % 256);
        px[1] = static_cast<uint8_t>((x * y + k) % 256);
        px[2] = static_cast<uint8_t>((y * 5 + shift) % 256);
        mask.row(y)[x] = (x > 20 && x < 40) ? 255 : 0;
      }
    cache.add(rgb, mask);
  }
}

std::shared_ptr<BackboneImpl> tiny(uint64_t seed) {
  torch::manual_seed(seed);
  return make_backbone("tiny");
}

fs::path temp_file() {
  return fs::temp_directory_path() /
         ("cosal-feature-cache-test-" + std::to_string(::getpid()) + ".bin");
}

}  // namespace

TEST(FeatureCache, ReloadsOnlyForTheSameImagesAndBackboneWeights) {
  const fs::path file = temp_file();
  auto a = tiny(1), b = tiny(2);
  FeatureCache made;
  fill(made, 0);
  made.encode(*a, 2);
  made.save_features(file.string());

  std::string why;
  FeatureCache same;
  fill(same, 0);
  ASSERT_TRUE(same.load_features(file.string(), *a, &why)) << why;
  EXPECT_TRUE(same.encoded());
  EXPECT_TRUE(
      torch::equal(same.features({0, 1}, torch::kCPU).x, made.features({0, 1}, torch::kCPU).x));

  // Other weights for the same architecture: the cached features are not theirs.
  FeatureCache other_weights;
  fill(other_weights, 0);
  EXPECT_FALSE(other_weights.load_features(file.string(), *b, &why));
  EXPECT_NE(why.find("backbone"), std::string::npos) << why;
  EXPECT_FALSE(other_weights.encoded());

  FeatureCache other_images;
  fill(other_images, 7);
  EXPECT_FALSE(other_images.load_features(file.string(), *a, &why));
  EXPECT_NE(why.find("other images"), std::string::npos) << why;

  FeatureCache missing;
  fill(missing, 0);
  EXPECT_FALSE(missing.load_features((file.string() + ".absent"), *a, &why));
  fs::remove(file);
}
