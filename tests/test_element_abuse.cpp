// The cosaliency element under abuse (issue "Reliability"): 1x1 and very large
// frames, buffers smaller than their caps claim, caps changes every few
// frames, property changes from another thread while PLAYING, 100 state
// cycles, two pipelines in parallel sharing the model, EOS with no frames,
// and a live source faster than inference. Tiny random model unless noted.
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "element_fixture.h"
#include "engine.h"
#include "gstcosaliency.h"
#include "run_to_end.h"

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
#define COSAL_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COSAL_UNDER_ASAN 1
#endif
#endif
#ifndef COSAL_UNDER_ASAN
#define COSAL_UNDER_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define COSAL_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COSAL_UNDER_TSAN 1
#endif
#endif
#ifndef COSAL_UNDER_TSAN
#define COSAL_UNDER_TSAN 0
#endif

namespace {

using namespace cosal::test;  // element_fixture.h
using Env = cosal::test::ElementEnv;
const auto* const env = ::testing::AddGlobalTestEnvironment(new Env("cosal_abuse_test_", 11));

double rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return -1.0;
}

size_t open_fds() {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

// A frame of `format` at w x h filled with a seed-dependent byte pattern
// (content does not matter here, only that it is a valid frame).
GstBuffer* make_frame(const char* format, int w, int h, int seed) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format), static_cast<guint>(w),
                            static_cast<guint>(h));
  GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; ++i)
    map.data[i] = static_cast<uint8_t>((i * 7 + static_cast<gsize>(seed) * 31) & 0xff);
  gst_buffer_unmap(b, &map);
  return b;
}

// Counts buffers reaching a pad and, for GRAY8 masks, a checksum per frame.
struct Tap {
  std::mutex mu;
  std::vector<uint64_t> sums;
  static GstPadProbeReturn probe(GstPad*, GstPadProbeInfo* info, gpointer data) {
    auto* t = static_cast<Tap*>(data);
    GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
    GstMapInfo map;
    uint64_t s = 1469598103934665603ull;  // FNV-1a
    if (gst_buffer_map(b, &map, GST_MAP_READ)) {
      for (gsize i = 0; i < map.size; ++i) s = (s ^ map.data[i]) * 1099511628211ull;
      gst_buffer_unmap(b, &map);
    }
    std::lock_guard<std::mutex> lock(t->mu);
    t->sums.push_back(s);
    return GST_PAD_PROBE_OK;
  }
  void attach(GstElement* pipeline, const char* sink_name) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), sink_name);
    GstPad* pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probe, this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(sink);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return sums.size();
  }
};

}  // namespace

// ---- frame sizes ----

TEST(ElementAbuse, OneByOneAndTinyFramesInEveryFormatAndOutput) {
  const std::pair<int, int> sizes[] = {{1, 1}, {1, 2}, {2, 1}, {1, 7}, {3, 3}};
  int frames = 0;
  for (const char* output : kOutputs) {
    for (const char* format : kFormats) {
      for (const auto& [w, h] : sizes) {
        SCOPED_TRACE(std::string(format) + " " + std::to_string(w) + "x" + std::to_string(h) +
                     " output=" + output);
        Harness t(std::string("output=") + output);
        gst_harness_set_src_caps_str(t.h, caps_str(format, w, h).c_str());
        for (int i = 0; i < 3; ++i) {
          ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(format, w, h, i), i)), GST_FLOW_OK);
          GstBuffer* out = gst_harness_pull(t.h);
          ASSERT_NE(out, nullptr);
          gst_buffer_unref(out);
          ++frames;
        }
        EXPECT_EQ(t.out_size(), std::make_pair(w, h));
        EXPECT_EQ(t.stat("frames-out"), 3u);
      }
    }
  }
  EXPECT_EQ(frames, 3 * 3 * 10 * 5);
}

// 8K frames: the element's own memory does not grow with the frame count and
// is bounded by a few frames' worth (it converts straight to the inference
// size; nothing at the input resolution is kept besides the output).
TEST(ElementAbuse, VeryLargeFramesUseBoundedMemory) {
  // TSan's shadow memory (several times every byte touched) counts in the
  // resident size this test bounds; the normal and ASan suites run it.
  if (COSAL_UNDER_TSAN) GTEST_SKIP() << "memory bound does not hold under ThreadSanitizer's shadow";
  const int w = 7680, h = 4320;
  for (const char* output : {"alpha", "mask"}) {
    SCOPED_TRACE(output);
    Harness t(std::string("output=") + output);
    gst_harness_set_src_caps_str(t.h, caps_str("RGBA", w, h).c_str());
    const double frame_mib = static_cast<double>(w) * h * 4 / (1 << 20);
    const double before = rss_mib();
    double after_first = 0, peak = 0;
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame("RGBA", w, h, i), i)), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(t.h);
      ASSERT_NE(out, nullptr);
      EXPECT_GE(gst_buffer_get_size(out), static_cast<gsize>(w) * h);
      peak = std::max(peak, rss_mib());
      gst_buffer_unref(out);
      if (i == 0) after_first = rss_mib();
    }
    const double after = rss_mib();
    std::printf(
        "[%s] 8K RGBA (%.0f MiB a frame): rss before %.0f, after frame 1 %.0f, peak %.0f, "
        "after 5 %.0f MiB\n",
        output, frame_mib, before, after_first, peak, after);
    EXPECT_EQ(t.stat("frames-out"), 5u);
    if (COSAL_UNDER_ASAN) continue;  // ASan's quarantine keeps freed frames resident
    // Input + output + converter lines, not more.
    EXPECT_LT(peak - before, 3 * frame_mib + 64) << "peak grows beyond a few frames";
    EXPECT_LT(after - after_first, 32.0) << "memory grows with the frame count";
  }
}

// Caps that promise an absurd size: a size no buffer can hold is not
// negotiated; a merely huge one negotiates, and buffers that do not hold it
// are dropped without anything of that size being allocated.
TEST(ElementAbuse, HugeCapsWithSmallBuffersAllocateNothingHuge) {
  {
    Harness t("output=mask");
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", 40000, 40000).c_str());  // 4.8 GB a frame
    EXPECT_EQ(gst_harness_push(t.h, stamped(make_frame("RGB", 64, 64, 0), 0)),
              GST_FLOW_NOT_NEGOTIATED);
    EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
  }
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 16000, 16000).c_str());  // 768 MB a frame
  const double before = rss_mib();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(gst_harness_push(t.h, stamped(make_frame("RGB", 64, 64, i), i)), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
  EXPECT_EQ(t.stat("frames-out"), 0u);
  EXPECT_EQ(t.stat("invalid-dropped"), 3u);
  if (!COSAL_UNDER_ASAN) {
    EXPECT_LT(rss_mib() - before, 128.0);
  }
}

// ---- broken buffers ----

// Buffers smaller than their caps claim are dropped with a warning; the
// stream goes on and the next good frame is processed.
TEST(ElementAbuse, BuffersSmallerThanTheirCapsAreDroppedAndTheStreamGoesOn) {
  int tried = 0;
  for (const char* output : kOutputs) {
    for (const char* format : {"RGB", "RGBA", "I420", "NV12"}) {
      SCOPED_TRACE(std::string(format) + " output=" + output);
      Harness t(std::string("output=") + output);
      gst_harness_set_src_caps_str(t.h, caps_str(format, 48, 36).c_str());
      GstVideoInfo info;
      gst_video_info_set_format(&info, gst_video_format_from_string(format), 48, 36);
      const gsize full = GST_VIDEO_INFO_SIZE(&info);
      int i = 0;
      for (gsize size : {gsize{0}, gsize{1}, full / 2, full - 1}) {
        GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
        if (size) gst_buffer_memset(b, 0, 0x80, size);
        EXPECT_EQ(gst_harness_push(t.h, stamped(b, i++)), GST_FLOW_OK) << size;
        ++tried;
      }
      EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
      EXPECT_EQ(t.stat("invalid-dropped"), 4u);
      ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(format, 48, 36, 1), i++)), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(t.h);
      ASSERT_NE(out, nullptr);
      gst_buffer_unref(out);
      EXPECT_EQ(t.stat("frames-out"), 1u);
    }
  }
  EXPECT_EQ(tried, 3 * 4 * 4);
}

// In a pipeline the short buffers give a WARNING message, not an ERROR, and
// every good frame still reaches the sink.
TEST(ElementAbuse, ShortBuffersInAPipelineWarnButDoNotStopIt) {
  const std::string desc = "appsrc name=src format=time caps=\"" + caps_str("I420", 64, 48) +
                           "\" ! " + element_desc("name=c output=mask") +
                           " ! fakesink name=sink sync=false";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  Tap tap;
  tap.attach(pipeline, "sink");
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  int good = 0;
  for (int i = 0; i < 30; ++i) {
    GstBuffer* b = i % 3 == 1 ? gst_buffer_new_allocate(nullptr, 100, nullptr)
                              : (++good, make_frame("I420", 64, 48, i));
    ASSERT_EQ(gst_app_src_push_buffer(GST_APP_SRC(src), stamped(b, i)), GST_FLOW_OK);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  std::string error;
  int warnings = 0;
  EXPECT_EQ(run_to_end(pipeline, 60 * GST_SECOND, &error, &warnings), GST_MESSAGE_EOS) << error;
  EXPECT_EQ(warnings, 1) << "the first short buffer is reported, the others counted";
  EXPECT_EQ(tap.count(), static_cast<size_t>(good));
  GstElement* c = gst_bin_get_by_name(GST_BIN(pipeline), "c");
  EXPECT_EQ(element_stat(c, "invalid-dropped"), 10u);
  gst_object_unref(c);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(pipeline);
}

// ---- caps churn ----

TEST(ElementAbuse, CapsChangeEveryFewFramesInEveryModeAndOutput) {
  struct C {
    const char* format;
    int w, h;
  };
  const C caps[] = {{"I420", 64, 48}, {"RGB", 33, 17}, {"RGBA", 1, 1},  {"NV12", 320, 240},
                    {"BGRx", 64, 48}, {"I420", 2, 2},  {"ABGR", 96, 7}, {"RGB", 640, 360}};
  int changes = 0;
  for (const char* mode : {"streaming", "window"}) {
    for (const char* output : kOutputs) {
      SCOPED_TRACE(std::string(mode) + " output=" + output);
      Harness t(std::string("mode=") + mode + " window-size=4 output=" + output);
      std::mt19937 rng(7);
      int pushed = 0, pulled = 0;
      for (int round = 0; round < 16; ++round) {
        const C& c = caps[rng() % (sizeof caps / sizeof caps[0])];
        gst_harness_set_src_caps_str(t.h, caps_str(c.format, c.w, c.h).c_str());
        ++changes;
        const int n = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i, ++pushed)
          ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(c.format, c.w, c.h, pushed), pushed)),
                    GST_FLOW_OK);
        // Outputs so far carry their own frame's size (window mode holds some).
        while (gst_harness_buffers_in_queue(t.h) > 0) {
          gst_buffer_unref(gst_harness_pull(t.h));
          ++pulled;
        }
        if (std::string(mode) == "streaming") {
          EXPECT_EQ(pulled, pushed);
          EXPECT_EQ(t.out_size(), std::make_pair(c.w, c.h));
        }
      }
      ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
      while (gst_harness_buffers_in_queue(t.h) > 0) {
        gst_buffer_unref(gst_harness_pull(t.h));
        ++pulled;
      }
      EXPECT_EQ(pulled, pushed) << "every frame comes out exactly once";
      EXPECT_EQ(t.stat("frames-out"), static_cast<guint64>(pushed));
    }
  }
  EXPECT_EQ(changes, 2 * 3 * 16);
}

// ---- threads ----

// Live properties (and refused ones, which warn) set from another thread
// while the stream runs; the stats are read concurrently too.
TEST(ElementAbuse, PropertyChangesFromAnotherThreadWhilePlaying) {
  const int frames = 300;
  const std::string desc = "videotestsrc num-buffers=" + std::to_string(frames) +
                           " pattern=ball ! video/x-raw,width=80,height=60 ! " +
                           element_desc("name=c output=alpha window-size=4") +
                           " ! fakesink name=sink sync=false";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  Tap tap;
  tap.attach(pipeline, "sink");
  GstElement* c = gst_bin_get_by_name(GST_BIN(pipeline), "c");
  // Poke only once PLAYING: in NULL and READY these properties may change.
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(gst_element_get_state(pipeline, nullptr, nullptr, 60 * GST_SECOND),
            GST_STATE_CHANGE_SUCCESS);
  std::atomic<bool> stop{false};
  std::atomic<int> sets{0};
  std::thread poker([&] {
    std::mt19937 rng(3);
    while (!stop) {
      switch (rng() % 7) {
        case 0:
          g_object_set(c, "threshold", static_cast<guint>(rng() % 256), nullptr);
          break;
        case 1:
          g_object_set(c, "smoothing", (rng() % 100) / 100.0, nullptr);
          break;
        case 2:
          g_object_set(c, "refresh-interval", static_cast<gint>(rng() % 6) - 1, nullptr);
          break;
        case 3:
          g_object_set(c, "scene-cut-threshold", (rng() % 3) * 0.2, nullptr);
          break;
        case 4:  // refused while PLAYING (fixes the caps / the group)
          g_object_set(c, "window-size", 2u + rng() % 8, "mode", static_cast<gint>(rng() % 2),
                       nullptr);
          break;
        case 5: {
          GstStructure* s = nullptr;
          g_object_get(c, "stats", &s, nullptr);
          gst_structure_free(s);
          break;
        }
        default: {
          gchar* m = nullptr;
          guint th = 0;
          g_object_get(c, "model", &m, "threshold", &th, nullptr);
          g_free(m);
          break;
        }
      }
      ++sets;
      g_usleep(1000);
    }
  });
  std::string error;
  const GstMessageType end = run_to_end(pipeline, 120 * GST_SECOND, &error);
  stop = true;
  poker.join();
  EXPECT_EQ(end, GST_MESSAGE_EOS) << error;
  EXPECT_EQ(tap.count(), static_cast<size_t>(frames));
  EXPECT_EQ(element_stat(c, "frames-out"), static_cast<guint64>(frames));
  guint ws = 0;
  g_object_get(c, "window-size", &ws, nullptr);
  EXPECT_EQ(ws, 4u) << "window-size must not change while PLAYING";
  EXPECT_GT(sets.load(), 20);
  std::printf("%d property operations during %d frames\n", sets.load(), frames);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(c);
  gst_object_unref(pipeline);
}

// 100 cycles through random state sequences (up, down, half-way, to EOS);
// afterwards nothing is held: the model is released and no fd is leaked.
TEST(ElementAbuse, HundredRandomStateCycles) {
  const std::string desc = "videotestsrc num-buffers=4 ! video/x-raw,width=40,height=30 ! " +
                           element_desc("name=c output=mask mode=window window-size=3") +
                           " ! fakesink sync=false";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  // Warm up once so lazily opened files (plugins, LibTorch) are counted.
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(run_to_end(pipeline, 30 * GST_SECOND, nullptr), GST_MESSAGE_EOS);
  ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  const size_t fds = open_fds();
  GstBus* bus = gst_element_get_bus(pipeline);
  std::mt19937 rng(100);
  const GstState targets[] = {GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING};
  int eos = 0;
  for (int i = 0; i < 100; ++i) {
    const GstState top = targets[rng() % 3];
    ASSERT_NE(gst_element_set_state(pipeline, top), GST_STATE_CHANGE_FAILURE) << i;
    if (top == GST_STATE_PLAYING && rng() % 3 == 0) {
      std::string error;
      ASSERT_EQ(run_to_end(pipeline, 30 * GST_SECOND, &error), GST_MESSAGE_EOS) << i << error;
      ++eos;
    } else {
      gst_element_get_state(pipeline, nullptr, nullptr, 5 * GST_SECOND);
    }
    // Down one step at a time now and then, straight to NULL otherwise.
    if (rng() % 2 && top >= GST_STATE_PAUSED) {
      gst_element_set_state(pipeline, GST_STATE_PAUSED);
      gst_element_set_state(pipeline, GST_STATE_READY);
    }
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS) << i;
    GstMessage* err = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    EXPECT_EQ(err, nullptr) << i;
    if (err) gst_message_unref(err);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  std::printf("100 state cycles, %d of them to EOS\n", eos);
  EXPECT_GT(eos, 5);
  {
    auto m = cosal::Model::acquire(Env::model(), "cpu");
    EXPECT_EQ(m.use_count(), 1) << "the element still holds the model in NULL";
  }
  EXPECT_EQ(open_fds(), fds) << "file descriptors leaked over 100 cycles";
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

// Two pipelines in two threads, same model file: one loaded instance, and
// each produces exactly the masks it produces alone.
TEST(ElementAbuse, TwoPipelinesInParallelShareTheModel) {
  const int frames = 40;
  const std::string desc = "videotestsrc num-buffers=" + std::to_string(frames) +
                           " pattern=ball ! video/x-raw,format=I420,width=96,height=64 ! " +
                           element_desc("output=mask") + " ! fakesink name=sink sync=false";
  auto run_one = [&](Tap* tap, GstElement** out_pipeline) {
    GstElement* p = gst_parse_launch(desc.c_str(), nullptr);
    tap->attach(p, "sink");
    *out_pipeline = p;
  };
  // Reference: alone.
  Tap ref;
  GstElement* alone = nullptr;
  run_one(&ref, &alone);
  ASSERT_NE(gst_element_set_state(alone, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(run_to_end(alone, 60 * GST_SECOND, nullptr), GST_MESSAGE_EOS);
  gst_element_set_state(alone, GST_STATE_NULL);
  gst_object_unref(alone);
  ASSERT_EQ(ref.sums.size(), static_cast<size_t>(frames));

  Tap taps[2];
  GstElement* pipelines[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    run_one(&taps[i], &pipelines[i]);
    ASSERT_NE(gst_element_set_state(pipelines[i], GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  }
  for (GstElement* p : pipelines)
    ASSERT_NE(gst_element_get_state(p, nullptr, nullptr, 30 * GST_SECOND),
              GST_STATE_CHANGE_FAILURE);
  {
    auto m = cosal::Model::acquire(Env::model(), "cpu");
    EXPECT_EQ(m.use_count(), 3) << "both pipelines hold the same loaded model";
  }
  GstMessageType ends[2] = {};
  std::string errors[2];
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      gst_element_set_state(pipelines[i], GST_STATE_PLAYING);
      ends[i] = run_to_end(pipelines[i], 120 * GST_SECOND, &errors[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(ends[i], GST_MESSAGE_EOS) << errors[i];
    EXPECT_EQ(taps[i].sums, ref.sums) << "pipeline " << i << " differs from the lone run";
    gst_element_set_state(pipelines[i], GST_STATE_NULL);
    gst_object_unref(pipelines[i]);
  }
}

// ---- end of stream ----

TEST(ElementAbuse, EosWithNoFramesInEveryModeAndOutput) {
  int cases = 0;
  for (const char* mode : {"streaming", "window"}) {
    for (const char* output : kOutputs) {
      SCOPED_TRACE(std::string(mode) + " output=" + output);
      // No caps at all: appsrc without caps ends at once.
      for (bool with_caps : {false, true}) {
        const std::string desc =
            std::string("appsrc name=src format=time ") +
            (with_caps ? "caps=\"" + caps_str("RGB", 32, 24) + "\" " : std::string()) + "! " +
            element_desc(std::string("mode=") + mode + " output=" + output) +
            " ! fakesink name=sink sync=false";
        GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
        ASSERT_NE(pipeline, nullptr);
        Tap tap;
        tap.attach(pipeline, "sink");
        GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
        ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
        gst_app_src_end_of_stream(GST_APP_SRC(src));
        std::string error;
        EXPECT_EQ(run_to_end(pipeline, 20 * GST_SECOND, &error), GST_MESSAGE_EOS) << error;
        EXPECT_EQ(tap.count(), 0u);
        gst_element_set_state(pipeline, GST_STATE_NULL);
        gst_object_unref(src);
        gst_object_unref(pipeline);
        ++cases;
      }
      // The harness: an EOS event before any caps goes through.
      Harness t(std::string("mode=") + mode + " output=" + output);
      ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
      bool saw_eos = false;
      while (GstEvent* e = gst_harness_try_pull_event(t.h)) {
        saw_eos = saw_eos || GST_EVENT_TYPE(e) == GST_EVENT_EOS;
        gst_event_unref(e);
      }
      EXPECT_TRUE(saw_eos);
      ++cases;
    }
  }
  EXPECT_EQ(cases, 2 * 3 * 3);
}

// ---- live ----

// A live 60 fps source into a network slower than 16.7 ms a frame: the sink's
// QoS makes the element drop late frames (counted), so the delay of what
// reaches the sink stays bounded instead of growing with the run.
TEST(ElementAbuse, LiveSourceFasterThanInferenceDropsAndKeepsLatencyBounded) {
  const char* source_dir = std::getenv("COSAL_SOURCE_DIR");
  const std::string model =
      std::string(source_dir ? source_dir : ".") + "/model/default.safetensors";
  if (!fs::exists(model)) GTEST_SKIP() << model << " not found";
  const int fps = 60, seconds = 4, frames = fps * seconds;
  // The default network at 448 px on one thread: several times slower than a
  // 60 fps frame even on a fast CPU.
  const std::string desc = "videotestsrc is-live=true num-buffers=" + std::to_string(frames) +
                           " pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
                           "framerate=" +
                           std::to_string(fps) + "/1 ! " +
                           element_desc("name=c output=mask inference-size=448 threads=1", model) +
                           " ! fakesink name=sink sync=true qos=true";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  struct Delay {
    std::mutex mu;
    std::vector<double> ms;  // clock running time at the sink minus buffer running time
    GstElement* pipeline;
  } delay;
  delay.pipeline = pipeline;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad* p, GstPadProbeInfo* info, gpointer data) -> GstPadProbeReturn {
        auto* d = static_cast<Delay*>(data);
        GstClock* clock = gst_element_get_clock(d->pipeline);
        if (!clock) return GST_PAD_PROBE_OK;
        const GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(d->pipeline);
        gst_object_unref(clock);
        GstEvent* seg_ev = gst_pad_get_sticky_event(p, GST_EVENT_SEGMENT, 0);
        if (!seg_ev) return GST_PAD_PROBE_OK;
        const GstSegment* seg = nullptr;
        gst_event_parse_segment(seg_ev, &seg);
        const GstClockTime rt = gst_segment_to_running_time(
            seg, GST_FORMAT_TIME, GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info)));
        gst_event_unref(seg_ev);
        std::lock_guard<std::mutex> lock(d->mu);
        d->ms.push_back((static_cast<double>(now) - static_cast<double>(rt)) / 1e6);
        return GST_PAD_PROBE_OK;
      },
      &delay, nullptr);
  gst_object_unref(pad);
  GstElement* c = gst_bin_get_by_name(GST_BIN(pipeline), "c");
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::string error;
  EXPECT_EQ(run_to_end(pipeline, 120 * GST_SECOND, &error), GST_MESSAGE_EOS) << error;
  const guint64 in = element_stat(c, "frames-in"), out = element_stat(c, "frames-out"),
                dropped = element_stat(c, "qos-dropped");
  GstStructure* s = nullptr;
  g_object_get(c, "stats", &s, nullptr);
  double mean_ms = 0;
  gst_structure_get_double(s, "mean-inference-ms", &mean_ms);
  gst_structure_free(s);
  guint64 rendered = 0, sink_dropped = 0;
  {
    GstStructure* ss = nullptr;
    g_object_get(sink, "stats", &ss, nullptr);
    gst_structure_get_uint64(ss, "rendered", &rendered);
    gst_structure_get_uint64(ss, "dropped", &sink_dropped);
    gst_structure_free(ss);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  std::lock_guard<std::mutex> lock(delay.mu);
  double late_max = 0;
  for (size_t i = delay.ms.size() / 2; i < delay.ms.size(); ++i)
    late_max = std::max(late_max, delay.ms[i]);
  std::printf("live 60 fps, %d frames: element in %" G_GUINT64_FORMAT ", out %" G_GUINT64_FORMAT
              ", qos-dropped %" G_GUINT64_FORMAT ", sink rendered %" G_GUINT64_FORMAT
              " dropped %" G_GUINT64_FORMAT
              ", mean inference %.1f ms, delay at the sink: first "
              "%.0f ms, max over the 2nd half %.0f ms, last %.0f ms\n",
              frames, in, out, dropped, rendered, sink_dropped, mean_ms,
              delay.ms.empty() ? 0.0 : delay.ms.front(), late_max,
              delay.ms.empty() ? 0.0 : delay.ms.back());
  ASSERT_GT(mean_ms, 1000.0 / fps) << "precondition: inference slower than the source";
  EXPECT_EQ(in + dropped, static_cast<guint64>(frames)) << "every frame is processed or counted";
  EXPECT_EQ(out, in);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(delay.ms.size(), static_cast<size_t>(out));
  // Without drops the delay would grow to about seconds * (1 - 16.7 / mean)
  // (> 2 s here); with them it stays near a few frames' processing.
  EXPECT_LT(late_max, 300.0 + 4.0 * mean_ms);
  gst_object_unref(sink);
  gst_object_unref(c);
  gst_object_unref(pipeline);
}
