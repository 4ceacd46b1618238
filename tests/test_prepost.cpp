// model/cuda/prepost.h: the CPU reference of the pre/post-processing (always),
// and the CUDA kernels against it (skipped with a message when the build has
// no kernels or the machine no CUDA device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mask_upscaler.h"
#include "prepost.h"

namespace pp = cosal::prepost;

namespace {

// A frame of random bytes in `format` (any content is a valid frame: the
// kernels and the reference must agree on all of them).
struct TestImage {
  std::vector<uint8_t> bytes[3];
  pp::Image image;
};

TestImage random_image(pp::Format format, int w, int h, unsigned seed, int padding = 8) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  TestImage t;
  t.image.format = format;
  t.image.width = w;
  t.image.height = h;
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  int rows[3] = {h, 0, 0}, row_bytes[3] = {0, 0, 0};
  switch (format) {
    case pp::Format::kRGB:
    case pp::Format::kBGR:
      row_bytes[0] = 3 * w;
      break;
    case pp::Format::kI420:
      row_bytes[0] = w;
      row_bytes[1] = row_bytes[2] = cw;
      rows[1] = rows[2] = ch;
      break;
    case pp::Format::kNV12:
      row_bytes[0] = w;
      row_bytes[1] = 2 * cw;
      rows[1] = ch;
      break;
    default:
      row_bytes[0] = 4 * w;
      break;
  }
  for (int p = 0; p < 3; ++p) {
    if (rows[p] == 0) continue;
    t.image.stride[p] = row_bytes[p] + padding;
    t.bytes[p].resize(static_cast<size_t>(t.image.stride[p]) * rows[p]);
    for (auto& b : t.bytes[p]) b = static_cast<uint8_t>(byte(rng));
    t.image.plane[p] = t.bytes[p].data();
  }
  return t;
}

TestImage uniform_packed(pp::Format format, int w, int h, const uint8_t px[4]) {
  TestImage t = random_image(format, w, h, 0, 0);
  const int step = format == pp::Format::kRGB || format == pp::Format::kBGR ? 3 : 4;
  for (size_t i = 0; i < t.bytes[0].size(); ++i) t.bytes[0][i] = px[i % step];
  return t;
}

TestImage uniform_yuv(pp::Format format, int w, int h, uint8_t y, uint8_t u, uint8_t v) {
  TestImage t = random_image(format, w, h, 0, 4);
  std::fill(t.bytes[0].begin(), t.bytes[0].end(), y);
  if (format == pp::Format::kI420) {
    std::fill(t.bytes[1].begin(), t.bytes[1].end(), u);
    std::fill(t.bytes[2].begin(), t.bytes[2].end(), v);
  } else {
    for (size_t i = 0; i < t.bytes[1].size(); ++i) t.bytes[1][i] = i % 2 ? v : u;
  }
  return t;
}

std::vector<float> reference(const pp::Image& img, int w, int h, const pp::Normalisation& n = {}) {
  std::vector<float> out(3 * static_cast<size_t>(w) * h);
  pp::preprocess_reference(img, w, h, n, out.data());
  return out;
}

// ---- CPU reference ----

TEST(PrepostReference, SamplesPerAxisIsTheCeilingOfTheScale) {
  EXPECT_EQ(pp::samples(1920, 224), 9);
  EXPECT_EQ(pp::samples(448, 224), 2);
  EXPECT_EQ(pp::samples(449, 224), 3);
  EXPECT_EQ(pp::samples(224, 224), 1);
  EXPECT_EQ(pp::samples(100, 224), 1);
}

TEST(PrepostReference, UniformPackedColourKeepsItsChannelsInEveryLayout) {
  // R = 10, G = 200, B = 30 in each layout's byte order (A/x = 99, ignored).
  struct Case {
    pp::Format f;
    uint8_t px[4];
  };
  const Case cases[] = {
      {pp::Format::kRGB, {10, 200, 30, 0}},   {pp::Format::kBGR, {30, 200, 10, 0}},
      {pp::Format::kRGBA, {10, 200, 30, 99}}, {pp::Format::kBGRA, {30, 200, 10, 99}},
      {pp::Format::kARGB, {99, 10, 200, 30}}, {pp::Format::kABGR, {99, 30, 200, 10}}};
  for (const Case& c : cases) {
    const TestImage t = uniform_packed(c.f, 97, 53, c.px);
    for (auto [ow, oh] : {std::pair{56, 40}, std::pair{224, 224}}) {
      const auto out = reference(t.image, ow, oh);
      const size_t plane = static_cast<size_t>(ow) * oh;
      for (size_t i = 0; i < plane; i += 97) {
        ASSERT_NEAR(out[i], 10 / 255.f, 1e-6) << static_cast<int>(c.f);
        ASSERT_NEAR(out[plane + i], 200 / 255.f, 1e-6) << static_cast<int>(c.f);
        ASSERT_NEAR(out[2 * plane + i], 30 / 255.f, 1e-6) << static_cast<int>(c.f);
      }
    }
  }
}

TEST(PrepostReference, NormalisationIsScaleAndBiasPerChannel) {
  const uint8_t px[4] = {0, 255, 51, 0};
  const TestImage t = uniform_packed(pp::Format::kRGB, 32, 32, px);
  pp::Normalisation n;
  for (int c = 0; c < 3; ++c) {
    n.scale[c] = 2.f / 255.f;
    n.bias[c] = -1.f;  // MobileNet's [-1, 1]
  }
  const auto out = reference(t.image, 16, 16, n);
  EXPECT_FLOAT_EQ(out[0], -1.f);
  EXPECT_FLOAT_EQ(out[256], 1.f);
  EXPECT_NEAR(out[512], -0.6f, 1e-6);
}

TEST(PrepostReference, IdentitySizeCopiesAndHalvingAveragesTwoByTwoBlocks) {
  const TestImage t = random_image(pp::Format::kRGB, 40, 30, 3);
  const auto same = reference(t.image, 40, 30, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
  const auto half = reference(t.image, 20, 15, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
  auto at = [&](int x, int y, int c) {
    return static_cast<float>(t.bytes[0][static_cast<size_t>(y) * t.image.stride[0] + 3 * x + c]);
  };
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 30; ++y)
      for (int x = 0; x < 40; ++x) ASSERT_EQ(same[(c * 30 + y) * 40 + x], at(x, y, c));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 15; ++y)
      for (int x = 0; x < 20; ++x) {
        const float want = (at(2 * x, 2 * y, c) + at(2 * x + 1, 2 * y, c) +
                            at(2 * x, 2 * y + 1, c) + at(2 * x + 1, 2 * y + 1, c)) /
                           4.f;
        ASSERT_NEAR(half[(c * 15 + y) * 20 + x], want, 1e-4) << x << "," << y;
      }
}

TEST(PrepostReference, YuvGreyAndPrimariesConvertWithTheRightMatrix) {
  for (pp::Format f : {pp::Format::kI420, pp::Format::kNV12}) {
    // Limited-range grey: Y = 126 -> (126 - 16) * 255 / 219 = 128.08 in all channels.
    TestImage grey = uniform_yuv(f, 31, 17, 126, 128, 128);
    auto g = reference(grey.image, 8, 8, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(g[c * 64 + 9], 128.08f, 0.01f);
    // BT.601 red (Y 81, U 90, V 240) and BT.709 red (Y 63, U 102, V 240).
    TestImage red601 = uniform_yuv(f, 64, 48, 81, 90, 240);
    auto r = reference(red601.image, 8, 8, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
    EXPECT_NEAR(r[9], 255.f, 1.f);
    EXPECT_NEAR(r[64 + 9], 0.f, 1.f);
    EXPECT_NEAR(r[128 + 9], 0.f, 1.5f);
    TestImage red709 = uniform_yuv(f, 64, 48, 63, 102, 240);
    red709.image.matrix = pp::Matrix::kBT709;
    r = reference(red709.image, 8, 8, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
    EXPECT_NEAR(r[9], 255.f, 1.5f);
    EXPECT_NEAR(r[64 + 9], 0.f, 1.5f);
    EXPECT_NEAR(r[128 + 9], 0.f, 1.5f);
    // The same bytes read with the other matrix give another colour (R 233.5).
    red709.image.matrix = pp::Matrix::kBT601;
    r = reference(red709.image, 8, 8, pp::Normalisation{{1, 1, 1}, {0, 0, 0}});
    EXPECT_NEAR(r[9], 233.5f, 1.f);
  }
}

TEST(PrepostReference, InvalidImagesAreRejected) {
  TestImage t = random_image(pp::Format::kRGBA, 16, 16, 1);
  std::vector<float> out(3 * 8 * 8);
  t.image.stride[0] = 4 * 16 - 1;
  EXPECT_THROW(pp::preprocess_reference(t.image, 8, 8, {}, out.data()), std::invalid_argument);
  TestImage y = random_image(pp::Format::kI420, 16, 16, 1);
  y.image.plane[2] = nullptr;
  EXPECT_THROW(pp::preprocess_reference(y.image, 8, 8, {}, out.data()), std::invalid_argument);
  TestImage z = random_image(pp::Format::kNV12, 16, 16, 1);
  EXPECT_THROW(pp::preprocess_reference(z.image, 0, 8, {}, out.data()), std::invalid_argument);
}

std::vector<float> random_mask(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.1f, 1.1f);  // out of range on purpose
  std::vector<float> m(static_cast<size_t>(w) * h);
  for (auto& v : m) v = u(rng);
  m[5] = std::numeric_limits<float>::quiet_NaN();
  return m;
}

TEST(PrepostReference, MaskWriteIsTheElementsMaskUpscalerBitForBit) {
  const auto mask = random_mask(56, 42, 11);
  for (int threshold : {0, 128}) {
    for (auto [w, h] : {std::pair{854, 480}, std::pair{56, 42}, std::pair{33, 20}}) {
      std::vector<uint8_t> want(static_cast<size_t>(w) * 4 * h, 7), got(want);
      cosal::MaskUpscaler up;
      up.configure(56, 42, w, h);
      up.run(mask.data(), want.data() + 3, 4, 4 * w, threshold);
      pp::write_mask_reference(mask.data(), 56, 42, got.data() + 3, w, h, 4, 4 * w, threshold);
      ASSERT_EQ(want, got) << w << "x" << h << " threshold " << threshold;
      // Only the alpha bytes were written.
      EXPECT_EQ(got[0], 7);
      EXPECT_EQ(got[2], 7);
    }
  }
}

TEST(PrepostReference, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(pp::float_to_half(1.f), 0x3c00);
  EXPECT_EQ(pp::float_to_half(-2.f), 0xc000);
  EXPECT_EQ(pp::float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(pp::float_to_half(65504.f), 0x7bff);
  EXPECT_EQ(pp::float_to_half(65520.f), 0x7c00);               // rounds up to infinity
  EXPECT_EQ(pp::float_to_half(1.f + 1.f / 2048), 0x3c00);      // tie -> even
  EXPECT_EQ(pp::float_to_half(1.f + 3.f / 2048), 0x3c02);      // tie -> even (up)
  EXPECT_EQ(pp::float_to_half(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(pp::float_to_half(std::ldexp(1.f, -26)), 0x0000);
  EXPECT_TRUE(std::isnan(pp::half_to_float(pp::float_to_half(NAN))));
  // Every half survives the round trip.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue;  // NaNs
    ASSERT_EQ(pp::float_to_half(pp::half_to_float(static_cast<uint16_t>(h))), h) << h;
  }
}

// ---- CUDA kernels against the reference ----

class PrepostCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (cosal::cuda::device_count(&why) == 0)
      GTEST_SKIP() << "no CUDA kernels/device here, the kernels are not run: " << why;
  }
};

TEST(PrepostCudaBuild, WithoutKernelsEveryCallSaysSo) {
  std::string why;
  const int n = cosal::cuda::device_count(&why);
  if (cosal::cuda::built()) GTEST_SKIP() << "kernels built (" << n << " device(s)): " << why;
  EXPECT_EQ(n, 0);
  EXPECT_NE(why.find("cuda feature"), std::string::npos) << why;
  EXPECT_THROW(cosal::cuda::Stream(), cosal::cuda::Error);
  EXPECT_THROW(cosal::cuda::DeviceBuffer(16), cosal::cuda::Error);
}

// Uploads a test image to the device; the Image then points at device memory.
struct DeviceImage {
  cosal::cuda::DeviceBuffer planes[3];
  pp::Image image;
  DeviceImage(const TestImage& t, const cosal::cuda::Stream& stream) : image(t.image) {
    for (int p = 0; p < 3; ++p) {
      if (t.bytes[p].empty()) continue;
      planes[p].resize(t.bytes[p].size());
      planes[p].upload(t.bytes[p].data(), t.bytes[p].size(), stream.handle());
      image.plane[p] = static_cast<const uint8_t*>(planes[p].data());
    }
  }
};

TEST_F(PrepostCuda, PreprocessMatchesTheReferenceInEveryFormatFloatAndHalf) {
  const pp::Format formats[] = {pp::Format::kRGB,  pp::Format::kBGR,  pp::Format::kRGBA,
                                pp::Format::kBGRA, pp::Format::kARGB, pp::Format::kABGR,
                                pp::Format::kI420, pp::Format::kNV12};
  struct Size {
    int w, h, ow, oh;
  };
  const Size sizes[] = {
      {854, 480, 224, 224}, {1920, 1080, 224, 224}, {853, 479, 224, 128}, {100, 60, 224, 224}};
  cosal::cuda::Stream stream;
  unsigned seed = 1;
  for (pp::Format f : formats)
    for (const Size& s : sizes) {
      TestImage t = random_image(f, s.w, s.h, seed++);
      t.image.matrix = seed % 2 ? pp::Matrix::kBT709 : pp::Matrix::kBT601;
      pp::Normalisation n;
      n.scale[1] = 2.f / 255.f;
      n.bias[1] = -1.f;
      const auto want = reference(t.image, s.ow, s.oh, n);
      DeviceImage d(t, stream);
      cosal::cuda::DeviceBuffer out(want.size() * sizeof(float));
      cosal::cuda::PinnedBuffer host(want.size() * sizeof(float));
      cosal::cuda::preprocess(d.image, s.ow, s.oh, n, out.data(), false, stream.handle());
      out.download(host.data(), want.size() * sizeof(float), stream.handle());
      stream.synchronize();
      const auto* got = static_cast<const float*>(host.data());
      float worst = 0.f;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
      EXPECT_LE(worst, 1e-6f) << "format " << static_cast<int>(f) << " " << s.w << "x" << s.h;

      cosal::cuda::preprocess(d.image, s.ow, s.oh, n, out.data(), true, stream.handle());
      std::vector<uint16_t> halves(want.size());
      out.download(halves.data(), halves.size() * 2, stream.handle());
      stream.synchronize();
      size_t differ = 0;
      for (size_t i = 0; i < want.size(); ++i) differ += halves[i] != pp::float_to_half(want[i]);
      EXPECT_EQ(differ, 0u) << "half, format " << static_cast<int>(f) << " " << s.w << "x" << s.h;
    }
}

TEST_F(PrepostCuda, WriteMaskMatchesTheReferenceForAlphaAndGray) {
  const auto mask = random_mask(56, 56, 5);
  cosal::cuda::Stream stream;
  cosal::cuda::DeviceBuffer dmask(mask.size() * sizeof(float));
  dmask.upload(mask.data(), mask.size() * sizeof(float), stream.handle());
  for (int threshold : {0, 100})
    for (int pixel_stride : {1, 4})
      for (auto [w, h] : {std::pair{1280, 720}, std::pair{57, 31}}) {
        const int row = w * pixel_stride + 12;
        std::vector<uint8_t> want(static_cast<size_t>(row) * h, 3), got(want.size());
        pp::write_mask_reference(mask.data(), 56, 56, want.data() + (pixel_stride - 1), w, h,
                                 pixel_stride, row, threshold);
        cosal::cuda::DeviceBuffer dst(want.size());
        std::vector<uint8_t> init(want.size(), 3);
        dst.upload(init.data(), init.size(), stream.handle());
        cosal::cuda::write_mask(static_cast<const float*>(dmask.data()), 56, 56,
                                static_cast<uint8_t*>(dst.data()) + (pixel_stride - 1), w, h,
                                pixel_stride, row, threshold, stream.handle());
        dst.download(got.data(), got.size(), stream.handle());
        stream.synchronize();
        ASSERT_EQ(want, got) << w << "x" << h << " stride " << pixel_stride << " threshold "
                             << threshold;
      }
}

}  // namespace
