#include "model_bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>

#include "stream_processor.h"
#include "synthetic_frames.h"

namespace cosal::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Distinct frames cycled through, so no run sees the same input as the last.
constexpr int kDistinctFrames = 8;

struct FrameSet {
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<RgbView> views;
  FrameSet(int width, int height, int count) {
    pixels.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) pixels.push_back(synthetic_rgb(width, height, i));
    for (const auto& p : pixels) views.push_back(RgbView{p.data(), width, height, width * 3});
  }
  const RgbView& operator[](int i) const { return views[static_cast<size_t>(i) % views.size()]; }
  std::vector<RgbView> batch(int first, int n) const {
    std::vector<RgbView> b;
    for (int i = 0; i < n; ++i) b.push_back((*this)[first + i]);
    return b;
  }
};

// `f(i)` warmup times untimed, then `runs` times timed; samples divided by `per`.
Summary time_runs(int warmup, int runs, double per, const std::function<void(int)>& f) {
  for (int i = 0; i < warmup; ++i) f(i);
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    f(warmup + i);
    ms.push_back(ms_since(t0) / per);
  }
  return summarize(std::move(ms));
}

Features encode_one(const Model& model, const RgbView& view) {
  auto f = model.encode({view});
  if (f.size() != 1 || f[0].empty()) throw ModelError("encode returned no features");
  return std::move(f[0]);
}

// The element's model-side work per frame, through its own stream
// processor: encode, push, decode every frame that is ready. Timed per input
// frame once the window has filled; the count is a whole number of refresh
// intervals so the mean carries the re-seeding cost at its true rate.
Summary run_stream(const Model& model, const FrameSet& frames, StreamOptions::Mode mode, int window,
                   const ModelBenchOptions& o, std::vector<float>& mask) {
  StreamOptions so;
  so.mode = mode;
  so.window_size = window;
  so.refresh_interval = o.refresh_interval;
  StreamProcessor processor(so);
  int timed = std::max(o.runs, o.refresh_interval);
  if (o.refresh_interval > 0)
    timed = (timed + o.refresh_interval - 1) / o.refresh_interval * o.refresh_interval;
  const int fill = window + o.warmup;
  std::vector<double> ms;
  for (int i = 0; i < fill + timed; ++i) {
    const auto t0 = Clock::now();
    processor.push(model, frames[i]);
    while (processor.ready()) processor.pop(model, mask.data());
    if (i >= fill) ms.push_back(ms_since(t0));
  }
  return summarize(std::move(ms));
}

}  // namespace

ModelBenchResult run_model_bench(const Model& model, const ModelBenchOptions& o) {
  if (o.runs <= 0 || o.warmup < 0) throw std::invalid_argument("runs must be > 0, warmup >= 0");
  const ModelInfo& info = model.info();
  const int w = info.input_width, h = info.input_height;
  const FrameSet frames(w, h, kDistinctFrames);
  std::vector<float> mask(static_cast<size_t>(w) * h);
  ModelBenchResult r;
  ModelParts& p = r.parts;
  auto note = [&](const std::string& what) {
    if (o.progress) o.progress(what);
  };
  p.width = w;
  p.height = h;

  // The parts are measured interleaved, one run of each per round, so a
  // change in the machine's load (it is often shared) hits all of them alike
  // instead of whichever part happened to run at that moment.
  std::vector<Features> feats;
  for (int i = 0; i < kDistinctFrames; ++i) feats.push_back(encode_one(model, frames[i]));
  GroupState state;
  model.update(state, feats[0]);  // G_0 = X_1: later steps are real RCAU steps
  auto feature = [&](int i) -> const Features& {
    return feats[static_cast<size_t>(i % kDistinctFrames)];
  };
  struct Part {
    double per;  // frames per call
    std::function<void(int)> run;
    std::vector<double> ms;
  };
  std::vector<Part> parts;
  for (int b : o.batches)
    parts.push_back(Part{static_cast<double>(b),
                         [&, b](int i) {
                           if (model.encode(frames.batch(i, b)).size() != static_cast<size_t>(b))
                             throw ModelError("encode returned the wrong number of features");
                         },
                         {}});
  const size_t first_other = parts.size();
  parts.push_back(Part{1, [&](int i) { model.update(state, feature(i)); }, {}});
  parts.push_back(Part{1, [&](int i) { model.decode(state, feature(i), mask.data()); }, {}});
  parts.push_back(Part{1,
                       [&](int i) {
                         const Features f = encode_one(model, frames[i]);
                         model.update(state, f);
                         model.decode(state, f, mask.data());
                       },
                       {}});
  parts.push_back(Part{1,
                       [&](int i) {
                         const GroupState none;  // empty: a group of one, its own features
                         model.decode(none, encode_one(model, frames[i]), mask.data());
                       },
                       {}});
  note("parts: encode (batches), update, decode, whole frame, single image, interleaved");
  for (int round = 0; round < o.warmup + o.runs; ++round)
    for (auto& part : parts) {
      const auto t0 = Clock::now();
      part.run(round);
      if (round >= o.warmup) part.ms.push_back(ms_since(t0) / part.per);
    }
  for (size_t i = 0; i < first_other; ++i)
    p.encode.push_back(BatchTiming{o.batches[i], summarize(std::move(parts[i].ms))});
  p.update = summarize(std::move(parts[first_other].ms));
  p.decode = summarize(std::move(parts[first_other + 1].ms));
  p.frame = summarize(std::move(parts[first_other + 2].ms));
  r.single = summarize(std::move(parts[first_other + 3].ms));

  // The recompute baseline encodes its windows in batches of the size that
  // was fastest per frame here: the most favourable choice for it.
  r.recompute_batch = 1;
  double best = -1;
  for (const auto& e : p.encode)
    if (best < 0 || e.per_frame.median < best) {
      best = e.per_frame.median;
      r.recompute_batch = e.batch;
    }

  for (int window : o.windows) {
    note("group strategies, window " + std::to_string(window));
    StrategyRow row;
    row.window = window;
    row.streaming = run_stream(model, frames, StreamOptions::Mode::kStreaming, window, o, mask);
    row.window_mode = run_stream(model, frames, StreamOptions::Mode::kWindow, window, o, mask);
    GroupState st;
    // Each run encodes `window` frames: fewer runs for large windows keep the
    // total near that of 5-frame windows (the samples vary less anyway).
    const int runs = std::max(3, std::min(o.runs, o.runs * 5 / window));
    row.recompute = time_runs(std::min(o.warmup, 2), runs, 1, [&](int i) {
      std::vector<Features> group;
      for (int done = 0; done < window; done += r.recompute_batch) {
        const int n = std::min(r.recompute_batch, window - done);
        for (auto& f : model.encode(frames.batch(i + done, n))) group.push_back(std::move(f));
      }
      model.seed(st, group);
      model.decode(st, group[static_cast<size_t>(window / 2)], mask.data());
    });
    r.strategies.push_back(row);
  }
  return r;
}

Summary time_whole_frames(const Model& model, int width, int height, int runs) {
  const FrameSet frames(width, height, kDistinctFrames);
  std::vector<float> mask(static_cast<size_t>(width) * height);
  GroupState state;
  return time_runs(1, runs, 1, [&](int i) {
    const Features f = encode_one(model, frames[i]);
    model.update(state, f);
    model.decode(state, f, mask.data());
  });
}

}  // namespace cosal::bench
