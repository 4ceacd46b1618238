// Model-level timings of cosal-bench, through engine.h (the code the element
// runs): the parts of one frame, and frames/s of four ways of using the same
// network on video:
//   streaming  - this project's element in streaming mode: one backbone pass,
//                one RCAU step and one decode per frame (StreamProcessor, with
//                its periodic re-seeding from cached features);
//   window     - the element's window mode (centred window, same caching);
//   recompute  - what a fixed-group network must do: for every output frame,
//                encode all W frames of its window (in batches of the size
//                measured fastest per frame), run the RCAU over them and
//                decode the frame;
//   single     - single image: each frame decoded against its own features.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "engine.h"

namespace cosal::bench {

struct ModelBenchOptions {
  int runs = 30;   // timed repetitions per measurement
  int warmup = 5;  // untimed repetitions before them
  std::vector<int> windows{1, 5, 15, 30};
  int refresh_interval = 8;  // the element's default
  std::vector<int> batches{1, 4, 8};
  std::function<void(const std::string&)> progress;  // called before each measurement
};

struct BatchTiming {
  int batch = 1;
  Summary per_frame;  // batch time / batch
};

struct ModelParts {
  int width = 0, height = 0;        // the model's native input size, used for every part
  std::vector<BatchTiming> encode;  // backbone (to_tensor included), per batch size
  Summary update;                   // one RCAU step
  Summary decode;                   // SIR + decoder + sigmoid + copy to the caller's buffer
  Summary frame;                    // encode(1) + update + decode
};

struct StrategyRow {
  int window = 1;
  Summary streaming;  // per output frame
  Summary window_mode;
  Summary recompute;
};

struct ModelBenchResult {
  ModelParts parts;
  Summary single;           // per frame, independent of the window
  int recompute_batch = 1;  // encode batch size of the recompute baseline (the fastest above)
  std::vector<StrategyRow> strategies;
};

ModelBenchResult run_model_bench(const Model& model, const ModelBenchOptions& options);

// `runs` whole frames (encode + update + decode) at width x height, per
// frame: the reference the element's per-frame time is compared with, taken
// right next to each element run so both see the same machine load.
Summary time_whole_frames(const Model& model, int width, int height, int runs);

}  // namespace cosal::bench
