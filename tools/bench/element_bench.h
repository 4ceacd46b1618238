// Element-level timings of cosal-bench: raw frames through a real pipeline
//   appsrc (pre-generated frames) ! cosaliency ! fakesink sync=false
// so nothing but the element (and GStreamer's own plumbing) is timed: no
// decoding, no display. Per-frame latency is the time from a buffer entering
// the element's sink pad to the buffer with the same PTS leaving its src pad
// (pad probes); in window mode it includes waiting for the look-ahead frames,
// which in this non-live pipeline arrive as fast as the element takes them.
//
// The element's work outside the network (colour conversion and scaling to
// the inference size, the alpha output's conversion, the mask upscaling) is
// also timed on its own, with the same GstVideoConverter options the element
// uses, to show where the time goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "engine.h"

namespace cosal::bench {

// Registers the element statically (once), so no plugin path is needed.
void register_element();

struct ElementOptions {
  std::string model;            // weights file
  std::string device = "cpu";   // the element's device property
  std::string format = "I420";  // input: any of the element's sink formats
  std::string output = "alpha";
  std::string edge_refine = "none";  // the element's edge-refine property
  int inference_size = 0;            // the element property (0 = model's native size)
  int refresh_interval = 8;
  int threads = 0;  // element property (0 = its default)
  int frames = 60;
  int skip = 5;  // first outputs left out of the latency statistics
};

struct ElementRun {
  int width = 0, height = 0;
  std::string mode;
  int window = 1;
  int frames_out = 0;
  double fps = 0;   // frames / (last out - first in)
  Summary latency;  // ms, per frame after `skip`
  // The first frame's latency: what a new element costs before its first
  // mask (a device's per-thread set-up shows here, not in the median).
  double first_frame_ms = 0;
  double element_mean_inference_ms = 0;  // the element's own stats
  // Process CPU time (user + system, all threads) over the run per frame out:
  // what a frame costs the machine, much less sensitive to other jobs'
  // load than the wall-clock numbers.
  double cpu_ms_per_frame = 0;
  double load_average = 0;
  int64_t rss_kib_after = 0;
};

ElementRun run_element(const ElementOptions& options, int width, int height,
                       const std::string& mode, int window);

struct ElementParts {
  int width = 0, height = 0;
  int inference_width = 0, inference_height = 0;
  Summary to_rgb;          // input -> packed RGB at the inference size (1 converter thread)
  Summary to_rgb_threads;  // the same with 2 converter threads
  Summary to_out;          // input -> RGBA at the frame size (alpha output; empty for alpha inputs)
  Summary to_out_threads;
  Summary upscale;  // mask at the inference size -> alpha bytes at the frame size
};

// The network input size is the element's rule, ModelInfo::inference_size.
ElementParts run_element_parts(const std::string& format, int width, int height,
                               const ModelInfo& model, int inference_size, int runs, int warmup);

}  // namespace cosal::bench
