// Validation on held-out sequences, run the way the element runs a video:
// each sequence through the element's StreamProcessor (streaming mode: per
// frame encode, one RCAU step on the persistent group feature G, decode
// against the current G, re-seeding G from the last `window` frames every
// `refresh` frames), over a view of the network being trained. Maps are
// scaled to the ground truth's resolution by the element's MaskUpscaler and
// scored there with the project's metrics (PySODMetrics definitions); means
// are over frames of a sequence, then over sequences. J is the IoU of the map
// thresholded at 128 and F the DAVIS boundary measure, as DAVIS reports them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dataset.h"
#include "engine.h"
#include "rcan.h"
#include "stream_processor.h"

namespace cosal::train {

struct StreamingOptions {
  int window = 0;   // frames in the group's window; 0: G persists over the whole sequence
  int refresh = 0;  // re-seed from the window every `refresh` frames (0: never; -1: window)
};

struct SequenceScore {
  std::string name;
  int frames = 0;
  double s_measure = 0, mae = 0, iou = 0, boundary_f = 0;
};

struct ValidationResult {
  std::vector<SequenceScore> sequences;
  double s_measure = 0, mae = 0, iou = 0, boundary_f = 0;  // means over sequences
  std::string to_json() const;
  std::string summary() const;  // "Sm .812 MAE .034 J .611 F .502"
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
    std::vector<Image> frames;  // packed RGB at the network input size
    std::vector<Image> gts;
    std::vector<Features> features;  // cached when frozen
  };
  std::vector<Sequence> sequences_;
  int64_t width_, height_;
  StreamingOptions options_;
};

// The stream processor's options for `options` (streaming mode).
StreamOptions stream_options(const StreamingOptions& options);

}  // namespace cosal::train
