#include "synthetic_groups.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <unordered_map>

namespace fs = std::filesystem;

namespace cosal::train {

StampStats stamp_stats(const Image& rgba) {
  StampStats st;
  if (rgba.channels != 4 || rgba.empty()) return st;
  std::unordered_map<uint32_t, int64_t> exact;
  std::vector<uint8_t> seen(32 * 32 * 32, 0);
  int64_t opaque = 0;
  const size_t n = static_cast<size_t>(rgba.width) * rgba.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &rgba.pixels[i * 4];
    if (p[3] <= 127) continue;
    ++opaque;
    exact[(uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2]]++;
    const size_t q = (size_t(p[0] >> 3) << 10) | (size_t(p[1] >> 3) << 5) | (p[2] >> 3);
    if (!seen[q]) {
      seen[q] = 1;
      ++st.colours;
    }
  }
  st.opaque_fraction = static_cast<double>(opaque) / static_cast<double>(n);
  if (opaque == 0) return st;
  std::vector<int64_t> counts;
  counts.reserve(exact.size());
  for (const auto& kv : exact) counts.push_back(kv.second);
  const size_t top = std::min<size_t>(8, counts.size());
  std::partial_sort(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(top), counts.end(),
                    std::greater<>());
  int64_t top_sum = 0;
  for (size_t i = 0; i < top; ++i) top_sum += counts[i];
  st.top_colour_share = static_cast<double>(top_sum) / static_cast<double>(opaque);
  return st;
}

bool is_photographic(const std::string& relative_path, const Image& rgba, std::string* why) {
  auto reject = [&](const std::string& r) {
    if (why) *why = r;
    return false;
  };
  // Categories of drawn or symbolic stamps in Tux Paint's collection.
  for (const char* bad : {"symbols", "cartoon", "tux", "letters", "shapes"}) {
    for (const auto& part : fs::path(relative_path))
      if (part.string() == bad) return reject(std::string("category '") + bad + "'");
  }
  if (rgba.channels != 4) return reject("no alpha channel");
  if (std::min(rgba.width, rgba.height) < 48) return reject("smaller than 48 px");
  const StampStats st = stamp_stats(rgba);
  // A stamp without a cut-out would give a rectangle as the mask.
  if (st.opaque_fraction > 0.97) return reject("no cut-out (opaque rectangle)");
  if (st.opaque_fraction < 0.05) return reject("almost fully transparent");
  // Photographs have thousands of colour shades; drawings a few flat ones.
  if (st.colours < 400) return reject("few colours (" + std::to_string(st.colours) + ")");
  if (st.top_colour_share > 0.25)
    return reject("flat colours (top-8 share " + std::to_string(st.top_colour_share) + ")");
  if (why) why->clear();
  return true;
}

Stamp make_stamp(const std::string& path, const Image& rgba, int max_side) {
  Image pm = rgba;
  const size_t n = static_cast<size_t>(pm.width) * pm.height;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &pm.pixels[i * 4];
    for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>((p[c] * p[3] + 127) / 255);
  }
  const int longer = std::max(pm.width, pm.height);
  if (longer > max_side) {
    const double s = static_cast<double>(max_side) / longer;
    pm = resize(pm, std::max(1, static_cast<int>(std::lround(pm.width * s))),
                std::max(1, static_cast<int>(std::lround(pm.height * s))));
  }
  return Stamp{path, std::move(pm)};
}

bool cutout_stamp(const std::string& path, const Image& rgb, const Image& mask, int max_side,
                  Stamp* out, double min_fraction, double max_fraction) {
  if (rgb.channels != 3 || mask.channels != 1 || rgb.width != mask.width ||
      rgb.height != mask.height || rgb.empty())
    throw ImageError(path + ": a cut-out needs an RGB image and a 1-channel mask of its size");
  int x0 = rgb.width, y0 = rgb.height, x1 = -1, y1 = -1;
  size_t object = 0;
  for (int y = 0; y < mask.height; ++y) {
    const uint8_t* m = mask.row(y);
    for (int x = 0; x < mask.width; ++x) {
      if (m[x] <= 127) continue;
      ++object;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  const double fraction =
      static_cast<double>(object) / (static_cast<double>(rgb.width) * rgb.height);
  if (object == 0 || fraction < min_fraction || fraction > max_fraction) return false;
  // One pixel of margin where the frame allows, for the mask's soft edge.
  x0 = std::max(0, x0 - 1);
  y0 = std::max(0, y0 - 1);
  x1 = std::min(rgb.width - 1, x1 + 1);
  y1 = std::min(rgb.height - 1, y1 + 1);
  const int w = x1 - x0 + 1, h = y1 - y0 + 1;
  Image rgba(w, h, 4);
  for (int y = 0; y < h; ++y) {
    const uint8_t* src = rgb.row(y0 + y) + x0 * 3;
    const uint8_t* m = mask.row(y0 + y) + x0;
    uint8_t* dst = rgba.row(y);
    for (int x = 0; x < w; ++x) {
      dst[x * 4 + 0] = src[x * 3 + 0];
      dst[x * 4 + 1] = src[x * 3 + 1];
      dst[x * 4 + 2] = src[x * 3 + 2];
      dst[x * 4 + 3] = m[x];
    }
  }
  *out = make_stamp(path, rgba, max_side);
  return true;
}

std::vector<Stamp> load_stamps(const std::string& root, int max_side,
                               std::vector<std::string>* rejected) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw ImageError(root + ": stamp folder not found");
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().extension() == ".png") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Stamp> out;
  for (const auto& f : files) {
    const std::string rel = fs::relative(f, root).string();
    Image img;
    try {
      // Always RGBA: grey+alpha and palette+tRNS stamps become RGBA too; a
      // file without alpha gets an opaque one (and fails the cut-out check).
      img = load_image(f.string(), 4);
    } catch (const ImageError& e) {
      if (rejected) rejected->push_back(rel + ": " + e.what());
      continue;
    }
    std::string why;
    if (!is_photographic(rel, img, &why)) {
      if (rejected) rejected->push_back(rel + ": " + why);
      continue;
    }
    out.push_back(make_stamp(f.string(), img, max_side));
  }
  return out;
}

bool object_free_crop(const Image& frame, const Image& mask, Rng& rng, int size,
                      double max_object_fraction, int tries, Image* out, Rect* where) {
  const int w = frame.width, h = frame.height;
  // Integral image of the object pixels: each try costs O(1).
  std::vector<int64_t> integ(static_cast<size_t>(w + 1) * (h + 1), 0);
  for (int y = 0; y < h; ++y) {
    int64_t row = 0;
    for (int x = 0; x < w; ++x) {
      row += mask.pixels[static_cast<size_t>(y) * w + x] > 127 ? 1 : 0;
      integ[static_cast<size_t>(y + 1) * (w + 1) + x + 1] =
          integ[static_cast<size_t>(y) * (w + 1) + x + 1] + row;
    }
  }
  auto count = [&](int x0, int y0, int x1, int y1) {
    return integ[size_t(y1) * (w + 1) + x1] - integ[size_t(y0) * (w + 1) + x1] -
           integ[size_t(y1) * (w + 1) + x0] + integ[size_t(y0) * (w + 1) + x0];
  };
  const int shorter = std::min(w, h);
  for (int t = 0; t < tries; ++t) {
    const int side = std::max(8, static_cast<int>(std::lround(rng.uniform(0.35, 1.0) * shorter)));
    const int x0 = static_cast<int>(rng.integer(0, w - side));
    const int y0 = static_cast<int>(rng.integer(0, h - side));
    const bool flip = rng.chance(0.5);
    const double frac = static_cast<double>(count(x0, y0, x0 + side, y0 + side)) /
                        (static_cast<double>(side) * side);
    if (frac >= max_object_fraction) continue;
    Image square = crop(frame, x0, y0, side, side);
    if (flip) mirror(square);
    *out = resize(square, size, size);
    if (where) *where = Rect{x0, y0, side, side};
    return true;
  }
  return false;
}

namespace {

uint8_t clamp_u8(double v, double hi) {
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, hi)));
}

// Scales, flips and colour-jitters a stamp (premultiplied, so every colour
// change is linear in (p, a) and stays within [0, a]).
Image transform_stamp(const Stamp& stamp, double longer_side, bool flip, bool jitter, Rng& rng) {
  const Image& src = stamp.rgba;
  const double s = longer_side / std::max(src.width, src.height);
  const int w = std::max(1, static_cast<int>(std::lround(src.width * s)));
  const int h = std::max(1, static_cast<int>(std::lround(src.height * s)));
  Image img = resize(src, w, h);
  const double brightness = jitter ? rng.uniform(-25, 25) : 0;
  const double contrast = jitter ? rng.uniform(0.8, 1.2) : 1;
  const double saturation = jitter ? rng.uniform(0.7, 1.3) : 1;
  if (flip) mirror(img);
  for (int y = 0; y < h && jitter; ++y) {
    uint8_t* row = img.row(y);
    for (int x = 0; x < w; ++x) {
      uint8_t* p = row + x * 4;
      const double a = p[3] / 255.0;
      if (a == 0) {
        p[0] = p[1] = p[2] = 0;
        continue;
      }
      double c[3];
      for (int k = 0; k < 3; ++k) c[k] = contrast * (p[k] - 128 * a) + (128 + brightness) * a;
      const double grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
      for (int k = 0; k < 3; ++k) p[k] = clamp_u8(grey + saturation * (c[k] - grey), p[3]);
    }
  }
  return img;
}

// Composites premultiplied `s` at (x0, y0) over `dst`; returns the alpha it
// placed at each pixel of dst (0..1).
std::vector<float> paste(Image& dst, const Image& s, int x0, int y0) {
  std::vector<float> alpha(static_cast<size_t>(dst.width) * dst.height, 0.f);
  for (int y = std::max(0, y0); y < std::min(dst.height, y0 + s.height); ++y) {
    const uint8_t* srow = s.row(y - y0);
    uint8_t* drow = dst.row(y);
    for (int x = std::max(0, x0); x < std::min(dst.width, x0 + s.width); ++x) {
      const uint8_t* p = srow + (x - x0) * 4;
      if (p[3] == 0) continue;
      const float a = p[3] / 255.f;
      uint8_t* d = drow + x * 3;
      for (int k = 0; k < 3; ++k) d[k] = clamp_u8(p[k] + (1.f - a) * d[k], 255);
      alpha[static_cast<size_t>(y) * dst.width + x] = a;
    }
  }
  return alpha;
}

// Position of a w x h object in a size x size image: up to 20 % of the
// object may leave the frame, as objects do in video.
void place(int size, int w, int h, Rng& rng, int* x0, int* y0) {
  *x0 = static_cast<int>(rng.integer(-w / 5, size - w + w / 5));
  *y0 = static_cast<int>(rng.integer(-h / 5, size - h + h / 5));
}

}  // namespace

SyntheticGroup make_synthetic_group(const std::vector<Stamp>& stamps,
                                    const std::vector<Image>& backgrounds, int members,
                                    bool distractors, Rng& rng, const SynthesisOptions& o) {
  if (stamps.empty()) throw std::invalid_argument("synthetic group: no stamps");
  if (members < 1 || static_cast<size_t>(members) > backgrounds.size())
    throw std::invalid_argument("synthetic group: " + std::to_string(members) +
                                " members need as many backgrounds, have " +
                                std::to_string(backgrounds.size()));
  SyntheticGroup g;
  g.stamp = static_cast<int>(rng.integer(0, static_cast<int64_t>(stamps.size()) - 1));
  if (distractors && stamps.size() > 1 && rng.chance(o.distractor_probability)) {
    g.distractor = static_cast<int>(rng.integer(0, static_cast<int64_t>(stamps.size()) - 2));
    if (g.distractor >= g.stamp) ++g.distractor;
    g.distractor_member = static_cast<int>(rng.integer(0, members - 1));
  }
  // Distinct backgrounds: a partial Fisher-Yates shuffle of the indices.
  std::vector<int> bg(backgrounds.size());
  for (size_t i = 0; i < bg.size(); ++i) bg[i] = static_cast<int>(i);
  for (int i = 0; i < members; ++i)
    std::swap(bg[i], bg[rng.integer(i, static_cast<int64_t>(bg.size()) - 1)]);

  const int size = o.size;
  for (int m = 0; m < members; ++m) {
    SyntheticMember mem;
    mem.background = bg[m];
    const Image& b = backgrounds[bg[m]];
    if (b.width != size || b.height != size || b.channels != 3)
      throw std::invalid_argument("synthetic group: background " + std::to_string(bg[m]) +
                                  " is not " + std::to_string(size) + "x" + std::to_string(size) +
                                  " RGB");
    mem.image = b;
    std::vector<float> dalpha;
    if (m == g.distractor_member) {
      const Image d = transform_stamp(
          stamps[g.distractor], rng.uniform(o.min_distractor_scale, o.max_distractor_scale) * size,
          rng.chance(0.5), o.colour_jitter, rng);
      int x0, y0;
      place(size, d.width, d.height, rng, &x0, &y0);
      dalpha = paste(mem.image, d, x0, y0);
    }
    const Image s = transform_stamp(stamps[g.stamp], rng.uniform(o.min_scale, o.max_scale) * size,
                                    rng.chance(0.5), o.colour_jitter, rng);
    int x0, y0;
    place(size, s.width, s.height, rng, &x0, &y0);
    const std::vector<float> alpha = paste(mem.image, s, x0, y0);
    mem.mask = Image(size, size, 1);
    mem.distractor_alpha = Image(size, size, 1);
    for (size_t i = 0; i < alpha.size(); ++i) {
      mem.mask.pixels[i] = clamp_u8(alpha[i] * 255.0, 255);
      // The common object is on top: what remains visible of the distractor.
      if (!dalpha.empty())
        mem.distractor_alpha.pixels[i] = clamp_u8(dalpha[i] * (1 - alpha[i]) * 255.0, 255);
    }
    g.members.push_back(std::move(mem));
  }
  return g;
}

}  // namespace cosal::train
