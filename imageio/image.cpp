#include "image.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include "sync_dir.h"

namespace cosal {

Image load_image(const std::string& path, int want_channels) {
  if (want_channels < 0 || want_channels > 4 || want_channels == 2)
    throw ImageError(path + ": unsupported channel count requested");
  int w = 0, h = 0, c = 0;
  stbi_uc* data = stbi_load(path.c_str(), &w, &h, &c, want_channels);
  if (!data)
    throw ImageError(path + ": cannot decode image (" + std::string(stbi_failure_reason()) + ")");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = want_channels ? want_channels : c;
  img.pixels.assign(data, data + static_cast<size_t>(w) * h * img.channels);
  stbi_image_free(data);
  return img;
}

namespace {
void write_cb(void* ctx, void* data, int size) {
  auto* buf = static_cast<std::vector<uint8_t>*>(ctx);
  auto* p = static_cast<uint8_t*>(data);
  buf->insert(buf->end(), p, p + size);
}
}  // namespace

void save_png(const std::string& path, const Image& image) {
  if (image.empty()) throw ImageError(path + ": refusing to write an empty image");
  std::vector<uint8_t> encoded;
  if (!stbi_write_png_to_func(write_cb, &encoded, image.width, image.height, image.channels,
                              image.pixels.data(), image.width * image.channels))
    throw ImageError(path + ": PNG encoding failed");
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ImageError(tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < encoded.size()) {
    ssize_t n = ::write(fd, encoded.data() + off, encoded.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw ImageError(tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) {
    ::unlink(tmp.c_str());
    throw ImageError(tmp + ": cannot flush to disk");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw ImageError(path + ": " + std::strerror(e));
  }
  sync_parent_dir(path);
}

Image crop(const Image& image, int x, int y, int w, int h) {
  if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > image.width || y + h > image.height)
    throw ImageError("crop: rectangle " + std::to_string(w) + "x" + std::to_string(h) + " at (" +
                     std::to_string(x) + "," + std::to_string(y) + ") is not inside the " +
                     std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  Image out(w, h, image.channels);
  const size_t row_bytes = static_cast<size_t>(w) * image.channels;
  for (int r = 0; r < h; ++r)
    std::copy_n(image.row(y + r) + static_cast<size_t>(x) * image.channels, row_bytes, out.row(r));
  return out;
}

void mirror(Image& image) {
  const int c = image.channels, w = image.width;
  for (int y = 0; y < image.height; ++y) {
    uint8_t* row = image.row(y);
    for (int x = 0; x < w / 2; ++x)
      std::swap_ranges(row + x * c, row + (x + 1) * c, row + (w - 1 - x) * c);
  }
}

Image resize(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0) throw ImageError("resize: bad target size");
  Image out(width, height, image.channels);
  if (!stbir_resize_uint8(image.pixels.data(), image.width, image.height, 0, out.pixels.data(),
                          width, height, 0, image.channels))
    throw ImageError("resize failed");
  return out;
}

}  // namespace cosal
