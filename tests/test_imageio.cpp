#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "image.h"

namespace fs = std::filesystem;

TEST(ImageIo, PngRoundTripIsExactAndAtomic) {
  cosal::Image img(7, 5, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 37);
  const fs::path dir = fs::temp_directory_path() / "cosal_imageio_test";
  fs::create_directories(dir);
  const std::string path = (dir / "a.png").string();
  cosal::save_png(path, img);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().extension(), ".png") << "temporary file left behind: " << e.path();
  cosal::Image back = cosal::load_image(path);
  EXPECT_EQ(back.width, 7);
  EXPECT_EQ(back.height, 5);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, img.pixels);
  cosal::Image gray = cosal::load_image(path, 1);
  EXPECT_EQ(gray.channels, 1);
  fs::remove_all(dir);
}

TEST(ImageIo, BadFilesGiveErrorsNamingTheFile) {
  const fs::path p = fs::temp_directory_path() / "cosal_not_an_image.png";
  FILE* f = std::fopen(p.c_str(), "wb");
  std::fputs("definitely not a png", f);
  std::fclose(f);
  try {
    cosal::load_image(p.string());
    FAIL() << "no error";
  } catch (const cosal::ImageError& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos);
  }
  EXPECT_THROW(cosal::load_image("/nonexistent/x.png"), cosal::ImageError);
  fs::remove(p);
}

TEST(ImageIo, ResizeKeepsConstantImagesConstant) {
  cosal::Image img(10, 6, 1, 200);
  cosal::Image r = cosal::resize(img, 33, 17);
  ASSERT_EQ(r.pixels.size(), 33u * 17u);
  for (uint8_t v : r.pixels) EXPECT_EQ(v, 200);
}

TEST(ImageIo, CropCopiesTheRectangleAndRefusesOutside) {
  cosal::Image img(5, 4, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i);
  const cosal::Image c = cosal::crop(img, 1, 2, 3, 2);
  ASSERT_EQ(c.width, 3);
  ASSERT_EQ(c.height, 2);
  ASSERT_EQ(c.channels, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int ch = 0; ch < 3; ++ch)
        EXPECT_EQ(c.row(y)[x * 3 + ch], img.row(y + 2)[(x + 1) * 3 + ch]);
  EXPECT_THROW(cosal::crop(img, 3, 0, 3, 1), cosal::ImageError);  // past the right edge
  EXPECT_THROW(cosal::crop(img, 0, 0, 0, 1), cosal::ImageError);  // empty
  EXPECT_THROW(cosal::crop(img, -1, 0, 2, 2), cosal::ImageError);
}

TEST(ImageIo, MirrorReversesEveryRowKeepingPixelsWhole) {
  for (int channels : {1, 3, 4}) {
    for (int width : {1, 4, 5}) {  // odd widths keep the middle column
      cosal::Image img(width, 3, channels);
      for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i);
      cosal::Image m = img;
      cosal::mirror(m);
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < width; ++x)
          for (int ch = 0; ch < channels; ++ch)
            EXPECT_EQ(m.row(y)[x * channels + ch], img.row(y)[(width - 1 - x) * channels + ch])
                << channels << " channels, width " << width;
      cosal::mirror(m);
      EXPECT_EQ(m.pixels, img.pixels);
    }
  }
}
