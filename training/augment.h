// On-the-fly augmentation of a training batch, for runs that encode images
// every step (no feature cache): a random zoom crop, left-right flip and
// colour jitter, the masks given the same geometry. The pool holds 9 short
// sequences; these make each step see a new framing of them.
#pragma once

#include <utility>
#include <vector>

#include <torch/torch.h>

#include "image.h"
#include "random.h"

namespace cosal::train {

struct AugmentOptions {
  double max_zoom = 1.6;  // crop side = image side / zoom, zoom uniform in [1, max_zoom]
  double colour = 0.25;   // brightness, contrast and saturation factors in 1 +- colour
  double flip = 0.5;      // probability of a left-right flip
};

// images: [N,3,H,W] in [0,1]; masks: [N,1,H,W] in [0,1]. Returns both
// augmented (same shapes, new tensors); draws only from `rng`, so a seed
// reproduces the run (and a resumed run, whose checkpoint holds the state).
// `one_draw_for_all`: every image gets the same crop, flip and colours (a
// video group stays one camera's view, as the RCAU sees it at run time);
// otherwise each image draws its own (a set of different photos).
std::pair<torch::Tensor, torch::Tensor> augment_batch(const torch::Tensor& images,
                                                      const torch::Tensor& masks, Rng& rng,
                                                      const AugmentOptions& options = {},
                                                      bool one_draw_for_all = false);

// Views of one still photograph for the training pool (--stills): `views`
// copies of it (RGB and 1-channel mask), each with its own zoom crop, flip
// and colours, drawn at the photo's resolution, so that a zoomed view keeps
// its detail, then resized to width x height. Together they are one object
// seen as by a camera moving over a still scene: a group for the RCAU.
std::vector<std::pair<Image, Image>> still_views(const Image& rgb, const Image& mask, int views,
                                                 int width, int height, Rng& rng,
                                                 const AugmentOptions& options = {});

}  // namespace cosal::train
