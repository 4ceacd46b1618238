// StreamProcessor on a tiny random model: the re-seed rule of both modes
// against the engine's seed/update/decode written out by hand, one mask per
// frame in push order, new groups (scene cuts, size changes, new_group) that
// lose no frame, smoothing, and refusals that change nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine.h"
#include "stream_processor.h"

namespace fs = std::filesystem;
using cosal::Features;
using cosal::GroupState;
using cosal::Model;
using cosal::RgbView;
using cosal::StreamOptions;
using cosal::StreamProcessor;

namespace {

constexpr int kSize = 32;

class ModelEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cosal_stream_test_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / "tiny.safetensors").string();
    cosal::write_random_model(path_, "tiny", "rcau", kSize, 11);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static const Model& model() {
    static const auto m = Model::acquire(path_, "cpu");
    return *m;
  }

 private:
  static inline fs::path dir_;
  static inline std::string path_;
};
const auto* const env = ::testing::AddGlobalTestEnvironment(new ModelEnv);

// Frame `seed` of a clip: a disc that moves with `seed`, on a background
// that `scene` changes completely.
std::vector<uint8_t> frame_bytes(int seed, int scene = 0, int w = kSize, int h = kSize) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * 3);
  const double cx = w * (0.3 + 0.04 * (seed % 10)), cy = h * 0.5;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* q = &p[(static_cast<size_t>(y) * w + x) * 3];
      const bool disc = std::hypot(x - cx, y - cy) < 0.25 * std::min(w, h);
      q[0] = disc ? 230 : static_cast<uint8_t>(scene ? 220 - 100 * x / w : 20 + 100 * x / w);
      q[1] = disc ? 50 : static_cast<uint8_t>(scene ? 200 : 30 + 80 * y / h);
      q[2] = disc ? 40 : static_cast<uint8_t>(scene ? 10 : (seed * 37) % 120);
    }
  return p;
}

RgbView view(const std::vector<uint8_t>& p, int w = kSize, int h = kSize) {
  return RgbView{p.data(), w, h, w * 3};
}

using Mask = std::vector<float>;

// Pushes every frame, popping whatever is ready, then drains: the masks in
// the order they came out.
std::vector<Mask> run(StreamProcessor& p, const std::vector<std::vector<uint8_t>>& frames) {
  const Model& m = ModelEnv::model();
  std::vector<Mask> out;
  auto take = [&]() {
    while (p.ready()) {
      out.emplace_back(static_cast<size_t>(p.mask_width()) * p.mask_height());
      p.pop(m, out.back().data());
    }
  };
  for (const auto& f : frames) {
    p.push(m, view(f));
    take();
  }
  p.drain(m);
  take();
  return out;
}

std::vector<std::vector<uint8_t>> clip(int n, int scene = 0, int first = 0) {
  std::vector<std::vector<uint8_t>> f;
  for (int i = first; i < first + n; ++i) f.push_back(frame_bytes(i, scene));
  return f;
}

std::vector<Features> encode_all(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<Features> f;
  for (const auto& b : frames) f.push_back(ModelEnv::model().encode({view(b)}).front());
  return f;
}

// The re-seed rule written out: frame t is decoded against G seeded from
// frames [lo, hi] when t is a refresh point (or the first frame), else G
// with the frames that entered the window since folded in one RCAU step
// each.
std::vector<Mask> reference(const std::vector<Features>& f, int lookback, int lookahead,
                            int refresh) {
  const Model& m = ModelEnv::model();
  const int n = static_cast<int>(f.size());
  GroupState g;
  std::vector<Mask> out;
  int folded = -1, last_seed = -1;
  for (int t = 0; t < n; ++t) {
    const int lo = std::max(0, t - lookback), hi = std::min(n - 1, t + lookahead);
    if (last_seed < 0 || (refresh > 0 && t - last_seed >= refresh)) {
      m.seed(g, std::vector<Features>(f.begin() + lo, f.begin() + hi + 1));
      last_seed = t;
      folded = hi;
    } else {
      for (int i = std::max(folded + 1, lo); i <= hi; ++i) m.update(g, f[static_cast<size_t>(i)]);
      folded = std::max(folded, hi);
    }
    out.emplace_back(static_cast<size_t>(kSize) * kSize);
    m.decode(g, f[static_cast<size_t>(t)], out.back().data());
  }
  return out;
}

StreamOptions options(StreamOptions::Mode mode, int window, int refresh) {
  StreamOptions o;
  o.mode = mode;
  o.window_size = window;
  o.refresh_interval = refresh;
  return o;
}

TEST(StreamProcessor, StreamingFollowsTheReseedRuleExactly) {
  const auto frames = clip(11);
  const auto feats = encode_all(frames);
  for (int refresh : {0, 1, 3, 4}) {
    SCOPED_TRACE("refresh " + std::to_string(refresh));
    StreamProcessor p(options(StreamOptions::Mode::kStreaming, 4, refresh));
    const auto got = run(p, frames);
    const auto want = reference(feats, 3, 0, refresh);
    ASSERT_EQ(got.size(), want.size());
    for (size_t t = 0; t < got.size(); ++t) EXPECT_EQ(got[t], want[t]) << "frame " << t;
  }
}

TEST(StreamProcessor, DefaultRefreshIsTheWindowInStreamingAndOneInWindowMode) {
  const auto frames = clip(10);
  const auto feats = encode_all(frames);
  StreamProcessor s(options(StreamOptions::Mode::kStreaming, 3, -1));
  EXPECT_EQ(run(s, frames), reference(feats, 2, 0, 3));
  StreamProcessor w(options(StreamOptions::Mode::kWindow, 5, -1));
  EXPECT_EQ(run(w, frames), reference(feats, 2, 2, 1));
}

TEST(StreamProcessor, WindowModeWaitsForItsLookAheadAndDrainsTheRest) {
  const Model& m = ModelEnv::model();
  const auto frames = clip(6);
  StreamProcessor p(options(StreamOptions::Mode::kWindow, 5, -1));  // look-ahead 2
  Mask mask(static_cast<size_t>(kSize) * kSize);
  int popped = 0;
  for (int i = 0; i < 6; ++i) {
    p.push(m, view(frames[static_cast<size_t>(i)]));
    // Frame t is ready once frame t + 2 has arrived.
    EXPECT_EQ(p.ready(), i >= 2 + popped) << "after frame " << i;
    while (p.ready()) {
      p.pop(m, mask.data());
      ++popped;
    }
  }
  EXPECT_EQ(popped, 4);
  EXPECT_EQ(p.pending(), 2);
  p.drain(m);
  EXPECT_TRUE(p.ready());
  while (p.ready()) {
    p.pop(m, mask.data());
    ++popped;
  }
  EXPECT_EQ(popped, 6);
  EXPECT_EQ(p.pending(), 0);
}

TEST(StreamProcessor, SceneCutCompletesTheOldGroupAndStartsAFreshOne) {
  auto frames = clip(5, 0);
  const auto second = clip(5, 1, 5);
  frames.insert(frames.end(), second.begin(), second.end());
  StreamOptions o = options(StreamOptions::Mode::kWindow, 5, -1);
  o.scene_cut_threshold = 0.2;
  StreamProcessor p(o);
  const auto got = run(p, frames);
  ASSERT_EQ(got.size(), 10u) << "one mask per frame, none lost at the cut";
  EXPECT_EQ(p.scene_cuts(), 1);
  EXPECT_EQ(p.group_resets(), 1);
  // Each scene is its own group: the same masks as each scene on its own.
  StreamProcessor a(options(StreamOptions::Mode::kWindow, 5, -1));
  StreamProcessor b(options(StreamOptions::Mode::kWindow, 5, -1));
  auto want = run(a, clip(5, 0));
  const auto wb = run(b, second);
  want.insert(want.end(), wb.begin(), wb.end());
  EXPECT_EQ(got, want);
}

TEST(StreamProcessor, NewGroupDrainsPendingFramesFirst) {
  const Model& m = ModelEnv::model();
  const auto frames = clip(4);
  StreamProcessor p(options(StreamOptions::Mode::kWindow, 9, -1));  // look-ahead 4
  for (const auto& f : frames) p.push(m, view(f));
  EXPECT_FALSE(p.ready());
  EXPECT_TRUE(p.new_group(m));
  EXPECT_EQ(p.pending(), 4);
  EXPECT_TRUE(p.ready());
  EXPECT_FALSE(p.new_group(m)) << "nothing new since: no state discarded";
  EXPECT_EQ(p.group_resets(), 1);
  // A new group with nothing pushed yet discards nothing either.
  p.clear();
  EXPECT_EQ(p.pending(), 0);
  EXPECT_FALSE(p.ready());
}

TEST(StreamProcessor, ANewFrameSizeStartsANewGroup) {
  const Model& m = ModelEnv::model();
  StreamProcessor p(options(StreamOptions::Mode::kStreaming, 4, -1));
  Mask mask(static_cast<size_t>(kSize) * kSize);
  const auto small = frame_bytes(0);
  p.push(m, view(small));
  p.pop(m, mask.data());
  const auto big = frame_bytes(1, 0, 2 * kSize, kSize);
  p.push(m, view(big, 2 * kSize, kSize));
  EXPECT_EQ(p.group_resets(), 1);
  EXPECT_EQ(p.mask_width(), 2 * kSize);
  Mask wide(static_cast<size_t>(2 * kSize) * kSize);
  p.pop(m, wide.data());
  // A group of one: the frame's own features.
  const Features f = m.encode({view(big, 2 * kSize, kSize)}).front();
  GroupState g;
  m.update(g, f);
  Mask want(wide.size());
  m.decode(g, f, want.data());
  EXPECT_EQ(wide, want);
}

TEST(StreamProcessor, SmoothingIsAnExponentialMovingAverageOfTheMasks) {
  const auto frames = clip(5);
  StreamProcessor raw(options(StreamOptions::Mode::kStreaming, 3, -1));
  const auto r = run(raw, frames);
  StreamOptions o = options(StreamOptions::Mode::kStreaming, 3, -1);
  o.smoothing = 0.25;
  StreamProcessor smooth(o);
  const auto s = run(smooth, frames);
  ASSERT_EQ(s.size(), r.size());
  EXPECT_EQ(s[0], r[0]);
  for (size_t t = 1; t < s.size(); ++t)
    for (size_t i = 0; i < s[t].size(); i += 97)
      EXPECT_FLOAT_EQ(s[t][i], 0.75f * r[t][i] + 0.25f * s[t - 1][i]) << t << "," << i;
}

TEST(StreamProcessor, LiveOptionsKeepTheGroup) {
  const Model& m = ModelEnv::model();
  const auto frames = clip(6);
  const auto feats = encode_all(frames);
  StreamProcessor p(options(StreamOptions::Mode::kStreaming, 3, 0));
  Mask mask(static_cast<size_t>(kSize) * kSize);
  std::vector<Mask> got;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i == 3) p.set_live_options(1, 0.0, 0.0);  // re-seed every frame from now on
    p.push(m, view(frames[i]));
    p.pop(m, mask.data());
    got.push_back(mask);
  }
  EXPECT_EQ(p.group_resets(), 0);
  // Frames 3-5 are each decoded against exactly their window.
  const auto every = reference(feats, 2, 0, 1);
  for (size_t t = 3; t < 6; ++t) EXPECT_EQ(got[t], every[t]) << t;
  const auto never = reference(feats, 2, 0, 0);
  for (size_t t = 0; t < 3; ++t) EXPECT_EQ(got[t], never[t]) << t;
}

TEST(StreamProcessor, ARefusedFrameChangesNothing) {
  const Model& m = ModelEnv::model();
  StreamProcessor p(options(StreamOptions::Mode::kWindow, 5, -1));
  const auto good = frame_bytes(0);
  p.push(m, view(good));
  const auto odd = frame_bytes(1, 0, kSize + 3, kSize);  // not a multiple of the stride
  EXPECT_THROW(p.push(m, view(odd, kSize + 3, kSize)), cosal::ModelError);
  EXPECT_THROW(p.push(m, Features{}), cosal::ModelError);
  EXPECT_EQ(p.pending(), 1);
  EXPECT_EQ(p.group_resets(), 0);
  EXPECT_EQ(p.mask_width(), kSize);
}

}  // namespace
