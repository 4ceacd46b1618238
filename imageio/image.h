// Decoded 8-bit images for the tools and tests (not used by the element,
// which gets its frames from GStreamer).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cosal {

// Interleaved 8-bit pixels, rows packed (stride = width * channels).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {}
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const {
    return pixels.data() + static_cast<size_t>(y) * width * channels;
  }
  bool empty() const { return pixels.empty(); }
};

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Decodes PNG, JPEG or BMP. want_channels = 0 keeps the file's channel count,
// 1/3/4 converts. Throws ImageError naming the file on any failure.
Image load_image(const std::string& path, int want_channels = 0);

// Writes a PNG atomically: a temporary file in the same folder, fsync, rename.
// Throws ImageError on failure (the final name is never left half-written).
void save_png(const std::string& path, const Image& image);

// Bilinear resize (stb_image_resize), any channel count.
Image resize(const Image& image, int width, int height);

// The w x h rectangle at (x, y), any channel count. Throws ImageError when it
// is empty or not inside the image.
Image crop(const Image& image, int x, int y, int w, int h);

// Mirrors the image left-right in place, any channel count.
void mirror(Image& image);

}  // namespace cosal
