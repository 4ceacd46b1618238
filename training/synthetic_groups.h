// Synthetic co-saliency groups (see ../shared/notes/quality-probes.md): one
// photographic stamp (an object photo with an alpha cut-out) pasted onto
// several different object-free backgrounds; the mask is the stamp's alpha.
// Distractor stamps that appear in only one member are labelled background:
// salient but not common, which only a network that sees the group can tell
// apart, so they are for group variants only.
#pragma once

#include <string>
#include <vector>

#include "image.h"
#include "random.h"

namespace cosal::train {

// A cut-out object: RGB premultiplied by alpha (so resizing does not bleed
// the colour of transparent pixels into the edge), 4 channels.
struct Stamp {
  std::string path;
  Image rgba;
};

struct StampStats {
  double opaque_fraction = 0;   // alpha > 127, of the whole image
  int colours = 0;              // distinct 5-bit-per-channel colours of opaque pixels
  double top_colour_share = 0;  // share of opaque pixels in the 8 most frequent exact colours
};
StampStats stamp_stats(const Image& rgba);

// Whether a stamp looks like a photographed object rather than a symbol,
// letter or drawing: by its path (symbols, cartoons) and colour statistics
// (drawings have few flat colours). `why` gets the reason for a rejection.
bool is_photographic(const std::string& relative_path, const Image& rgba, std::string* why);

// Loads every PNG under `root` (recursively, sorted) that passes
// is_photographic, downscaled so the longer side is at most max_side.
// `rejected` (optional) gets "path: reason" lines.
std::vector<Stamp> load_stamps(const std::string& root, int max_side = 256,
                               std::vector<std::string>* rejected = nullptr);
// Premultiplies a straight-alpha RGBA image and downscales it.
Stamp make_stamp(const std::string& path, const Image& rgba, int max_side = 256);

// A stamp cut out of a labelled photograph or video frame: the bounding box
// of the mask (> 127), with the mask, soft edges and all, as alpha. Real
// objects (people, animals, vehicles) instead of clip-art photos. Returns
// false when the object covers less than min_fraction or more than
// max_fraction of the image (too small to see at the network's size, or
// too large to paste onto a background).
bool cutout_stamp(const std::string& path, const Image& rgb, const Image& mask, int max_side,
                  Stamp* out, double min_fraction = 0.01, double max_fraction = 0.6);

struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
};

// A square crop of `frame` in which at most max_object_fraction of the pixels
// are annotated object (mask > 127), resized to size x size and randomly
// flipped. Returns false when `tries` random crops all hold too much object.
bool object_free_crop(const Image& frame, const Image& mask, Rng& rng, int size,
                      double max_object_fraction, int tries, Image* out, Rect* where = nullptr);

struct SynthesisOptions {
  int size = 224;
  double min_scale = 0.3, max_scale = 0.8;  // longer side of the common object / size
  double distractor_probability = 0.5;      // per group (group variants only)
  double min_distractor_scale = 0.2, max_distractor_scale = 0.5;
  bool colour_jitter = true;
};

struct SyntheticMember {
  Image image;             // RGB
  Image mask;              // 1 channel: the common object's visible alpha
  Image distractor_alpha;  // 1 channel: visible distractor alpha (all 0 without one)
  int background = -1;     // index into the backgrounds given
};

struct SyntheticGroup {
  int stamp = -1;       // the common object
  int distractor = -1;  // the distractor stamp, -1 without
  int distractor_member = -1;
  std::vector<SyntheticMember> members;
};

// `members` images of one stamp on `members` different backgrounds (all
// size x size RGB; at least `members` of them). With `distractors`, a group
// gets (with the configured probability) one other stamp in one member,
// pasted under the common object and labelled background.
SyntheticGroup make_synthetic_group(const std::vector<Stamp>& stamps,
                                    const std::vector<Image>& backgrounds, int members,
                                    bool distractors, Rng& rng,
                                    const SynthesisOptions& options = {});

}  // namespace cosal::train
