// The training pool: every training image (real frames and synthetic
// composites, already at the network's input size) with its mask and, for a
// frozen backbone, its backbone features computed ONCE and kept in memory as
// fp16. A training step then costs only the head (SIR, RCAU, decoder).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"
#include "image.h"

namespace cosal::train {

// A group of pool items that may be sampled together.
struct PoolGroup {
  std::string name;
  std::vector<int64_t> items;  // indices into the cache, in temporal order for video
  bool video = false;          // sample with temporal spacing rather than as a set
  bool synthetic = false;
  bool stills = false;  // views of one still photograph (--stills)
};

class FeatureCache {
 public:
  // Stores an RGB image and a 1-channel mask of the same size (the pool's
  // size, the first image fixes it). Returns the item's index.
  int64_t add(const Image& rgb, const Image& mask);
  // Adds a left-right mirrored copy of item `i` (before encode()).
  int64_t add_mirrored(int64_t i);
  int64_t size() const { return static_cast<int64_t>(images_.size()); }
  int64_t width() const { return width_; }
  int64_t height() const { return height_; }

  // Runs `backbone` (no gradients) over every item without features, in
  // batches. `progress(done, total)` is called after each batch.
  void encode(BackboneImpl& backbone, int64_t batch_size,
              const std::function<void(int64_t, int64_t)>& progress = {});
  bool encoded() const { return !x_.empty() && x_.size() == images_.size(); }

  // The encoded features on disk, so that runs over the same pool (an
  // ablation: one run per variant) encode once. Each image's byte sum and
  // the backbone's parameter sums are stored and must match on load, so a
  // file from another pool, or made with other backbone weights (ImageNet vs
  // DeepLab, say), is refused rather than silently trained on.
  void save_features(const std::string& path) const;  // atomic
  // False (and the cache unchanged) when the file is missing, from another
  // pool or made by another `backbone` than this one.
  bool load_features(const std::string& path, const BackboneImpl& backbone,
                     std::string* why = nullptr);

  // Float32 batches on `device`.
  BackboneFeatures features(const std::vector<int64_t>& idx, const torch::Device& device) const;
  torch::Tensor images(const std::vector<int64_t>& idx,
                       const torch::Device& device) const;  // [N,3,H,W] in [0,1]
  torch::Tensor masks(const std::vector<int64_t>& idx,
                      const torch::Device& device) const;  // [N,1,H,W] in [0,1]

  size_t bytes() const;

 private:
  int64_t width_ = 0, height_ = 0;
  std::vector<torch::Tensor> images_;  // uint8 [3,H,W]
  std::vector<torch::Tensor> masks_;   // uint8 [1,H,W]
  std::vector<torch::Tensor> x_;       // fp16 [C,h,w]
  std::vector<std::vector<torch::Tensor>> skips_;
  torch::Tensor backbone_sums_;  // of the backbone that made x_ and skips_

  static torch::Tensor backbone_sums(const BackboneImpl& backbone);
};

// HWC uint8 Image <-> CHW tensors.
torch::Tensor to_tensor(const Image& img);  // uint8 [C,H,W]
// Float [N,3,H,W] in [0,1] from 8-bit RGB images (all the same size).
torch::Tensor to_float_batch(const std::vector<const Image*>& images);

}  // namespace cosal::train
