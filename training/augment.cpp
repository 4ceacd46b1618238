// augment_batch (see augment.h).
#include "augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "feature_cache.h"

namespace cosal::train {

namespace F = torch::nn::functional;

std::pair<torch::Tensor, torch::Tensor> augment_batch(const torch::Tensor& images,
                                                      const torch::Tensor& masks, Rng& rng,
                                                      const AugmentOptions& o,
                                                      bool one_draw_for_all) {
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  std::vector<torch::Tensor> out_i, out_m;
  for (int64_t k = 0; k < (one_draw_for_all ? 1 : n); ++k) {
    torch::Tensor img = one_draw_for_all ? images : images[k].unsqueeze(0);
    torch::Tensor m = one_draw_for_all ? masks : masks[k].unsqueeze(0);
    // Zoom: a crop of side / zoom at a random place, resized back.
    const double zoom = rng.uniform(1.0, std::max(1.0, o.max_zoom));
    const int64_t ch = std::clamp<int64_t>(std::lround(h / zoom), 1, h);
    const int64_t cw = std::clamp<int64_t>(std::lround(w / zoom), 1, w);
    const int64_t y0 = rng.integer(0, h - ch), x0 = rng.integer(0, w - cw);
    if (ch != h || cw != w) {
      const auto resize = F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{h, w})
                              .mode(torch::kBilinear)
                              .align_corners(false);
      img = F::interpolate(img.slice(2, y0, y0 + ch).slice(3, x0, x0 + cw), resize);
      m = F::interpolate(m.slice(2, y0, y0 + ch).slice(3, x0, x0 + cw), resize);
    }
    if (rng.chance(o.flip)) {
      img = img.flip({3});
      m = m.flip({3});
    }
    // Colour: brightness, then contrast about the mean, then saturation
    // against the luma; clamped back to [0, 1].
    const double b = rng.uniform(1 - o.colour, 1 + o.colour);
    const double c = rng.uniform(1 - o.colour, 1 + o.colour);
    const double s = rng.uniform(1 - o.colour, 1 + o.colour);
    img = img * b;
    const torch::Tensor mean = img.mean({1, 2, 3}, /*keepdim=*/true);  // per image
    img = (img - mean) * c + mean;
    const torch::Tensor luma =
        (img.select(1, 0) * 0.299 + img.select(1, 1) * 0.587 + img.select(1, 2) * 0.114)
            .unsqueeze(1);
    img = (img - luma) * s + luma;
    out_i.push_back(img.clamp(0, 1));
    out_m.push_back(m.clamp(0, 1));
  }
  return {torch::cat(out_i), torch::cat(out_m)};
}

namespace {

// Image <- float [C,H,W] in [0,1].
Image to_image(const torch::Tensor& chw) {
  const torch::Tensor hwc =
      chw.mul(255.0).round_().clamp_(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  Image out(static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)),
            static_cast<int>(hwc.size(2)));
  std::memcpy(out.pixels.data(), hwc.data_ptr<uint8_t>(), out.pixels.size());
  return out;
}

}  // namespace

std::vector<std::pair<Image, Image>> still_views(const Image& rgb, const Image& mask, int views,
                                                 int width, int height, Rng& rng,
                                                 const AugmentOptions& options) {
  if (views < 1) throw std::invalid_argument("still_views: at least one view");
  torch::NoGradGuard no_grad;
  const torch::Tensor image = to_float_batch({&rgb});
  const torch::Tensor m = to_tensor(mask).unsqueeze(0).to(torch::kFloat32).div_(255.0);
  const auto [vi, vm] =
      augment_batch(image.expand({views, -1, -1, -1}), m.expand({views, -1, -1, -1}), rng, options);
  std::vector<std::pair<Image, Image>> out;
  for (int64_t k = 0; k < views; ++k)
    out.emplace_back(resize(to_image(vi[k]), width, height),
                     resize(to_image(vm[k]), width, height));
  return out;
}

}  // namespace cosal::train
