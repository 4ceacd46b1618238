// Validation on held-out sequences, run the way the element runs a video:
// streaming, one frame at a time (encode, one RCAU step on the persistent
// group feature G, decode against the current G), optionally re-seeding G
// from the last `window` frames every `refresh` frames. Maps are upsampled
// bilinearly to the ground truth's resolution and scored there with the
// project's metrics (PySODMetrics definitions); means are over frames of a
// sequence, then over sequences.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "dataset.h"
#include "rcan.h"

namespace cosal::train {

struct StreamingOptions {
  int window = 0;   // 0: G persists over the whole sequence
  int refresh = 0;  // re-seed from the last `window` frames every `refresh` frames
};

struct SequenceScore {
  std::string name;
  int frames = 0;
  double s_measure = 0, mae = 0, iou = 0;
};

struct ValidationResult {
  std::vector<SequenceScore> sequences;
  double s_measure = 0, mae = 0, iou = 0;  // means over sequences
  std::string to_json() const;
  std::string summary() const;  // "Sm .812 MAE .034 IoU .611"
};

class Validator {
 public:
  // Loads every frame of `dataset` (masks required) resized to width x height.
  Validator(const Dataset& dataset, int64_t width, int64_t height, StreamingOptions options = {});
  // With a frozen backbone the features are computed once and reused.
  ValidationResult run(RcanImpl& net, const torch::Device& device, bool frozen_backbone);
  int64_t frames() const;

 private:
  struct Sequence {
    std::string name;
    torch::Tensor images;  // uint8 [T,3,H,W]
    std::vector<Image> gts;
    BackboneFeatures features;  // cached (CPU, float) when frozen
  };
  std::vector<Sequence> sequences_;
  int64_t width_, height_;
  StreamingOptions options_;
};

// Streaming masks (probabilities, [T,1,H,W]) for the frames of `f`, as above.
torch::Tensor streaming_masks(RcanImpl& net, const BackboneFeatures& f, int64_t height,
                              int64_t width, const StreamingOptions& options);

}  // namespace cosal::train
