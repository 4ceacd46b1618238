// The cosaliency element through GstHarness, with tiny random models: caps,
// sizes, timestamps, group resets, window mode, QoS, state cycles, errors,
// weight sharing, and masks equal to the engine's own computation.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cosalmeta.h"
#include "element_fixture.h"
#include "engine.h"
#include "gstcosaliency.h"
#include "guided_upsampler.h"
#include "image.h"
#include "mask_upscaler.h"
#include "processing_time.h"
#include "run_to_end.h"
#include "stream_processor.h"

namespace fs = std::filesystem;

namespace {

using namespace cosal::test;  // element_fixture.h
using Env = cosal::test::ElementEnv;
const auto* const env = ::testing::AddGlobalTestEnvironment(new Env("cosal_element_test_", 7));

// A deterministic frame: smooth gradients plus a bright disc whose position
// depends on `seed`, converted from RGB to `format`.
GstBuffer* make_frame(GstVideoFormat format, int w, int h, int seed) {
  GstVideoInfo rgb, out;
  gst_video_info_set_format(&rgb, GST_VIDEO_FORMAT_RGB, w, h);
  gst_video_info_set_format(&out, format, w, h);
  GstBuffer* src = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&rgb), nullptr);
  GstVideoFrame sf;
  gst_video_frame_map(&sf, &rgb, src, GST_MAP_WRITE);
  auto* p = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&sf, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&sf, 0);
  const double cx = w * (0.3 + 0.05 * (seed % 8)), cy = h * (0.4 + 0.03 * (seed % 5));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* q = p + y * stride + 3 * x;
      const bool disc = std::hypot(x - cx, y - cy) < 0.25 * std::min(w, h);
      q[0] = disc ? 240 : static_cast<uint8_t>(20 + 100 * x / w);
      q[1] = disc ? 60 : static_cast<uint8_t>(30 + 80 * y / h);
      q[2] = disc ? 40 : static_cast<uint8_t>((seed * 37) % 120);
    }
  gst_video_frame_unmap(&sf);
  if (format == GST_VIDEO_FORMAT_RGB) return src;
  GstBuffer* dst = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&out), nullptr);
  GstVideoFrame in, of;
  gst_video_frame_map(&in, &rgb, src, GST_MAP_READ);
  gst_video_frame_map(&of, &out, dst, GST_MAP_WRITE);
  GstVideoConverter* c = gst_video_converter_new(&rgb, &out, nullptr);
  gst_video_converter_frame(c, &in, &of);
  gst_video_converter_free(c);
  gst_video_frame_unmap(&of);
  gst_video_frame_unmap(&in);
  gst_buffer_unref(src);
  return dst;
}

// Pushes make_frame(format, w, h, i) stamped with index i for i in [first, end).
::testing::AssertionResult push_frames(Harness& t, GstVideoFormat format, int w, int h, int first,
                                       int end) {
  for (int i = first; i < end; ++i) {
    const GstFlowReturn r = gst_harness_push(t.h, stamped(make_frame(format, w, h, i), i));
    if (r != GST_FLOW_OK)
      return ::testing::AssertionFailure() << "frame " << i << ": " << gst_flow_get_name(r);
  }
  return ::testing::AssertionSuccess();
}

// The GRAY8 plane (or the alpha bytes) of an output buffer as a dense vector.
std::vector<uint8_t> plane_bytes(GstBuffer* buf, GstCaps* caps, bool alpha) {
  GstVideoInfo info;
  EXPECT_TRUE(gst_video_info_from_caps(&info, caps));
  GstVideoFrame f;
  EXPECT_TRUE(gst_video_frame_map(&f, &info, buf, GST_MAP_READ));
  const int w = GST_VIDEO_FRAME_WIDTH(&f), h = GST_VIDEO_FRAME_HEIGHT(&f);
  std::vector<uint8_t> v(static_cast<size_t>(w) * h);
  const auto* base = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
  const int off = alpha ? GST_VIDEO_FRAME_COMP_POFFSET(&f, GST_VIDEO_COMP_A) : 0;
  const int ps = alpha ? GST_VIDEO_FRAME_COMP_PSTRIDE(&f, GST_VIDEO_COMP_A) : 1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) v[static_cast<size_t>(y * w + x)] = base[y * stride + off + x * ps];
  gst_video_frame_unmap(&f);
  return v;
}

std::vector<uint8_t> to_bytes(const std::vector<float>& m) {
  std::vector<uint8_t> v(m.size());
  for (size_t i = 0; i < m.size(); ++i)
    v[i] = static_cast<uint8_t>(std::lround(std::clamp(m[i], 0.f, 1.f) * 255.f));
  return v;
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

cosal::RgbView view_of(GstBuffer* rgb, GstVideoFrame* f, int w, int h) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, w, h);
  gst_video_frame_map(f, &info, rgb, GST_MAP_READ);
  cosal::RgbView v;
  v.data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(f, 0));
  v.width = w;
  v.height = h;
  v.stride = GST_VIDEO_FRAME_PLANE_STRIDE(f, 0);
  return v;
}

}  // namespace

TEST(Element, EveryFormatTimesEveryOutputNegotiatesAndProducesFrames) {
  for (const char* output : kOutputs) {
    for (const char* format : kFormats) {
      SCOPED_TRACE(std::string(format) + " output=" + output);
      Harness t(std::string("output=") + output);
      gst_harness_set_src_caps_str(t.h, caps_str(format, 48, 36).c_str());
      const GstVideoFormat vf = gst_video_format_from_string(format);
      ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(vf, 48, 36, 1), 0)), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(t.h);
      ASSERT_NE(out, nullptr);
      GstCaps* caps = t.out_caps();
      GstVideoInfo info;
      ASSERT_TRUE(gst_video_info_from_caps(&info, caps));
      EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 48);
      EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), 36);
      const std::string got = GST_VIDEO_INFO_NAME(&info);
      if (std::string(output) == "mask") {
        EXPECT_EQ(got, "GRAY8");
      } else if (std::string(output) == "meta") {
        EXPECT_EQ(got, format);
        GstCosalMaskMeta* m = gst_buffer_get_cosal_mask_meta(out);
        ASSERT_NE(m, nullptr);
        EXPECT_EQ(m->width, 48u);
        EXPECT_EQ(m->height, 36u);
        EXPECT_GE(m->stride, 48u);
        ASSERT_NE(m->data, nullptr);
      } else {
        EXPECT_TRUE(GST_VIDEO_INFO_HAS_ALPHA(&info)) << got;
        // The channel order is kept (RGB-like in -> RGBA, BGR-like -> BGRA).
        const std::string in = format;
        std::string want = "RGBA";
        if (in == "BGR" || in == "BGRA" || in == "BGRx") want = "BGRA";
        if (in == "ARGB" || in == "ABGR") want = in;
        EXPECT_EQ(got, want);
      }
      EXPECT_GE(gst_buffer_get_size(out), GST_VIDEO_INFO_SIZE(&info));
      gst_caps_unref(caps);
      gst_buffer_unref(out);
    }
  }
}

TEST(Element, UnsupportedCapsAreNotNegotiated) {
  Harness t;
  gst_harness_set_src_caps_str(t.h, caps_str("YUY2", 32, 32).c_str());
  GstFlowReturn r = gst_harness_push(t.h, make_frame(GST_VIDEO_FORMAT_YUY2, 32, 32, 0));
  EXPECT_EQ(r, GST_FLOW_NOT_NEGOTIATED);
}

TEST(Element, OddAndNonSquareSizesAgreeAcrossOutputs) {
  struct Case {
    const char* format;
    int w, h;
    const char* extra;
  } cases[] = {{"I420", 33, 17, ""},
               {"NV12", 33, 17, ",pixel-aspect-ratio=4/3"},
               {"RGB", 17, 51, ""},
               {"BGRx", 101, 7, ",pixel-aspect-ratio=16/9"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.format) + " " + std::to_string(c.w) + "x" + std::to_string(c.h));
    const GstVideoFormat vf = gst_video_format_from_string(c.format);
    // The alpha channel of output=alpha, the GRAY8 of output=mask and the
    // meta of output=meta are the same mask.
    std::vector<uint8_t> masks[3];
    const char* outputs[] = {"output=alpha", "output=mask", "output=meta"};
    for (int o = 0; o < 3; ++o) {
      Harness t(outputs[o]);
      gst_harness_set_src_caps_str(t.h, caps_str(c.format, c.w, c.h, c.extra).c_str());
      ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(vf, c.w, c.h, 3), 0)), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(t.h);
      ASSERT_NE(out, nullptr);
      GstCaps* caps = t.out_caps();
      GstVideoInfo info;
      gst_video_info_from_caps(&info, caps);
      EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), c.w);
      EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), c.h);
      if (*c.extra) {
        EXPECT_NE(GST_VIDEO_INFO_PAR_N(&info), GST_VIDEO_INFO_PAR_D(&info)) << "PAR lost";
      }
      if (o == 2) {
        GstCosalMaskMeta* m = gst_buffer_get_cosal_mask_meta(out);
        ASSERT_NE(m, nullptr);
        for (guint y = 0; y < m->height; ++y)
          masks[o].insert(masks[o].end(), m->data + y * m->stride,
                          m->data + y * m->stride + m->width);
      } else {
        masks[o] = plane_bytes(out, caps, o == 0);
      }
      gst_caps_unref(caps);
      gst_buffer_unref(out);
    }
    EXPECT_EQ(masks[0], masks[1]);
    EXPECT_EQ(masks[1], masks[2]);
  }
}

TEST(Element, ResolutionChangeRenegotiatesAndStartsANewGroup) {
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("I420", 64, 48).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_I420, 64, 48, 0, 3));
  EXPECT_EQ(t.stat("group-resets"), 0u);
  gst_harness_set_src_caps_str(t.h, caps_str("I420", 40, 30).c_str());
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_I420, 40, 30, 3), 3)),
            GST_FLOW_OK);
  EXPECT_EQ(t.stat("group-resets"), 1u);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 4u);
  for (int i = 0; i < 3; ++i) gst_buffer_unref(gst_harness_pull(t.h));
  GstBuffer* last = gst_harness_pull(t.h);
  GstCaps* caps = t.out_caps();
  GstVideoInfo info;
  gst_video_info_from_caps(&info, caps);
  EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 40);
  EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), 30);
  EXPECT_EQ(gst_buffer_get_size(last), GST_VIDEO_INFO_SIZE(&info));
  gst_caps_unref(caps);
  gst_buffer_unref(last);
}

TEST(Element, TimestampsDurationsAndFlagsArePreservedInEveryMode) {
  const char* configs[] = {"output=alpha", "output=mask", "output=meta",
                           "output=mask mode=window window-size=4",
                           "output=alpha mode=window window-size=3"};
  for (const char* cfg : configs) {
    SCOPED_TRACE(cfg);
    Harness t(cfg);
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
    const int n = 6;
    for (int i = 0; i < n; ++i) {
      GstBuffer* b = make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, i);
      GST_BUFFER_PTS(b) = 1000 + i * 40 * GST_MSECOND;
      GST_BUFFER_DTS(b) = 500 + i * 40 * GST_MSECOND;
      GST_BUFFER_DURATION(b) = 40 * GST_MSECOND - static_cast<GstClockTime>(i);
      GST_BUFFER_OFFSET(b) = static_cast<guint64>(i);
      GST_BUFFER_OFFSET_END(b) = static_cast<guint64>(i + 1);
      if (i % 2) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
      if (i == 3) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_MARKER);
      ASSERT_EQ(gst_harness_push(t.h, b), GST_FLOW_OK);
    }
    ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
    ASSERT_EQ(gst_harness_buffers_in_queue(t.h), static_cast<guint>(n));
    for (int i = 0; i < n; ++i) {
      GstBuffer* o = gst_harness_pull(t.h);
      EXPECT_EQ(GST_BUFFER_PTS(o), 1000 + i * 40 * GST_MSECOND);
      EXPECT_EQ(GST_BUFFER_DTS(o), 500 + i * 40 * GST_MSECOND);
      EXPECT_EQ(GST_BUFFER_DURATION(o), 40 * GST_MSECOND - static_cast<GstClockTime>(i));
      EXPECT_EQ(GST_BUFFER_OFFSET(o), static_cast<guint64>(i));
      EXPECT_EQ(GST_BUFFER_OFFSET_END(o), static_cast<guint64>(i + 1));
      EXPECT_EQ(GST_BUFFER_FLAG_IS_SET(o, GST_BUFFER_FLAG_DELTA_UNIT), i % 2 == 1) << i;
      EXPECT_EQ(GST_BUFFER_FLAG_IS_SET(o, GST_BUFFER_FLAG_MARKER), i == 3) << i;
      gst_buffer_unref(o);
    }
  }
}

// Frames 0..2, a flush, then frame 3: frame 3's mask equals that of a fresh
// element seeing frame 3 first. Same with a DISCONT buffer.
TEST(Element, FlushAndDiscontStartANewGroup) {
  auto first_mask_of_fresh = [](int seed) {
    Harness f("output=mask");
    gst_harness_set_src_caps_str(f.h, caps_str("RGB", kSize, kSize).c_str());
    EXPECT_EQ(
        gst_harness_push(f.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, seed), 0)),
        GST_FLOW_OK);
    GstBuffer* o = gst_harness_pull(f.h);
    GstCaps* caps = f.out_caps();
    auto v = plane_bytes(o, caps, false);
    gst_caps_unref(caps);
    gst_buffer_unref(o);
    return v;
  };
  Harness t("output=mask refresh-interval=0");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
  auto push_pull = [&t](int seed, int i, bool discont) {
    GstBuffer* b = stamped(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, seed), i);
    if (discont) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
    EXPECT_EQ(gst_harness_push(t.h, b), GST_FLOW_OK);
    GstBuffer* o = gst_harness_pull(t.h);
    GstCaps* caps = t.out_caps();
    auto v = plane_bytes(o, caps, false);
    gst_caps_unref(caps);
    gst_buffer_unref(o);
    return v;
  };
  for (int i = 0; i < 3; ++i) push_pull(i, i, false);
  auto continued = push_pull(5, 3, false);  // frame 5 after 0..2: a group of 4
  EXPECT_EQ(t.stat("group-resets"), 0u);

  ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_segment(&seg)));
  auto after_flush = push_pull(5, 0, false);
  EXPECT_EQ(t.stat("group-resets"), 1u);
  const auto fresh = first_mask_of_fresh(5);
  EXPECT_EQ(after_flush, fresh);

  push_pull(1, 1, false);
  push_pull(2, 2, false);
  auto after_discont = push_pull(5, 3, true);
  EXPECT_EQ(t.stat("group-resets"), 2u);
  EXPECT_EQ(after_discont, fresh);
  // Without a reset the group changes the mask (otherwise this test proves nothing).
  EXPECT_GT(max_abs_diff(continued, fresh), 0) << "the random model ignores G";
}

TEST(Element, SceneCutStartsANewGroup) {
  Harness t("output=mask scene-cut-threshold=0.15");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
  // Same scene: frames differ only by the disc's position.
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, kSize, kSize, 0, 3));
  EXPECT_EQ(t.stat("scene-cuts"), 0u);
  // A different scene: inverted picture.
  GstBuffer* b = make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, 2);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; ++i) map.data[i] = static_cast<guint8>(255 - map.data[i]);
  gst_buffer_unmap(b, &map);
  ASSERT_EQ(gst_harness_push(t.h, stamped(b, 3)), GST_FLOW_OK);
  EXPECT_EQ(t.stat("scene-cuts"), 1u);
  EXPECT_EQ(t.stat("group-resets"), 1u);
}

TEST(Element, WindowModeReportsLatencyHoldsFramesAndFlushesThemAtEos) {
  Harness t("output=mask mode=window window-size=5");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  // window-size/2 = 2 frames of 40 ms, no processing measured yet.
  EXPECT_EQ(gst_harness_query_latency(t.h), 80 * GST_MSECOND);
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 2));
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
  EXPECT_EQ(t.stat("held"), 2u);
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 2), 2)),
            GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 1u);  // frame 0 had its 2 frames of look-ahead
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 3), 3)),
            GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 2u);
  ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 4u);
  for (int i = 0; i < 4; ++i) {
    GstBuffer* o = gst_harness_pull(t.h);
    EXPECT_EQ(GST_BUFFER_PTS(o), static_cast<GstClockTime>(i) * GST_SECOND / 25);
    gst_buffer_unref(o);
  }
  // EOS comes after the flushed frames.
  GstEvent* ev;
  bool saw_eos = false;
  while ((ev = gst_harness_try_pull_event(t.h))) {
    saw_eos = saw_eos || GST_EVENT_TYPE(ev) == GST_EVENT_EOS;
    gst_event_unref(ev);
  }
  EXPECT_TRUE(saw_eos);
  // The processing time is now part of the reported latency.
  EXPECT_GT(gst_harness_query_latency(t.h), 80 * GST_MSECOND);
}

TEST(Element, StreamingModeReportsNoBufferingLatency) {
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  EXPECT_EQ(gst_harness_query_latency(t.h), 0u);
}

TEST(Element, QosLateFramesAreDroppedAndCounted) {
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 0), 0)),
            GST_FLOW_OK);
  gst_buffer_unref(gst_harness_pull(t.h));
  // Downstream says: the frame at 40 ms was 1 s late.
  ASSERT_TRUE(gst_harness_push_upstream_event(
      t.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, GST_SECOND, 40 * GST_MSECOND)));
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 1, 4));
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
  EXPECT_EQ(t.stat("qos-dropped"), 3u);
  EXPECT_EQ(t.stat("frames-in"), 1u);
  // A frame after the earliest time goes through.
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 5), 50)),
            GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 1u);

  // With qos=false nothing is dropped.
  Harness q("output=mask qos=false");
  gst_harness_set_src_caps_str(q.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(gst_harness_push_upstream_event(
      q.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, GST_SECOND, 0)));
  ASSERT_EQ(gst_harness_push(q.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 1), 1)),
            GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(q.h), 1u);
  EXPECT_EQ(q.stat("qos-dropped"), 0u);
}

TEST(Element, FiftyStateCyclesThroughPlaying) {
  const std::string desc = "videotestsrc num-buffers=3 ! video/x-raw,width=40,height=30 ! " +
                           cosal::test::element_desc("") + " ! fakesink sync=false";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  GstBus* bus = gst_element_get_bus(pipeline);
  for (int i = 0; i < 50; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE) << i;
    if (i % 10 == 0) {  // now and then run to the end; otherwise stop mid-stream
      std::string error;
      EXPECT_EQ(cosal::test::run_to_end(pipeline, 20 * GST_SECOND, &error), GST_MESSAGE_EOS)
          << i << ": " << error;
    } else {
      gst_element_get_state(pipeline, nullptr, nullptr, 5 * GST_SECOND);
    }
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS) << i;
    GstMessage* err = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    EXPECT_EQ(err, nullptr);
    if (err) gst_message_unref(err);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

static GstMessage* error_of_loading(const std::string& path, const char* device = "cpu") {
  GstElement* pipeline = gst_pipeline_new(nullptr);
  GstElement* e = gst_element_factory_make("cosaliency", nullptr);
  g_object_set(e, "model", path.c_str(), "device", device, nullptr);
  gst_bin_add(GST_BIN(pipeline), e);
  EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return m;
}

TEST(Element, CorruptOrMissingModelPostsAnErrorNamingTheFile) {
  const std::string corrupt = (Env::dir() / "corrupt.safetensors").string();
  {
    FILE* f = std::fopen(corrupt.c_str(), "wb");
    const char junk[] = "\x10\x00\x00\x00\x00\x00\x00\x00{\"not\": \"weights\"";
    std::fwrite(junk, 1, sizeof junk, f);
    std::fclose(f);
  }
  GstMessage* m = error_of_loading(corrupt);
  ASSERT_NE(m, nullptr);
  GError* err = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(m, &err, &dbg);
  EXPECT_TRUE(g_error_matches(err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS))
      << err->message;
  EXPECT_NE(std::string(err->message).find("corrupt.safetensors"), std::string::npos)
      << err->message;
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(m);

  m = error_of_loading((Env::dir() / "missing.safetensors").string());
  ASSERT_NE(m, nullptr);
  gst_message_parse_error(m, &err, &dbg);
  EXPECT_TRUE(g_error_matches(err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND))
      << err->message;
  EXPECT_NE(std::string(err->message).find("missing.safetensors"), std::string::npos);
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(m);

  if (!cosal::cuda_available()) {
    m = error_of_loading(Env::model(), "cuda");
    ASSERT_NE(m, nullptr) << "cuda requested without CUDA must fail";
    gst_message_parse_error(m, &err, &dbg);
    EXPECT_NE(std::string(err->message).find("CUDA"), std::string::npos) << err->message;
    g_error_free(err);
    g_free(dbg);
    gst_message_unref(m);
  }
}

TEST(Element, AutoDeviceWithoutCudaWarnsAndRunsOnCpu) {
  if (cosal::cuda_available()) GTEST_SKIP() << "CUDA present: auto picks it without a warning";
  GstElement* pipeline = gst_pipeline_new(nullptr);
  GstElement* e = gst_element_factory_make("cosaliency", nullptr);
  g_object_set(e, "model", Env::model().c_str(), "device", "auto", nullptr);
  gst_bin_add(GST_BIN(pipeline), e);
  EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  EXPECT_NE(m, nullptr);
  if (m) gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

TEST(Element, TwoInstancesShareOneLoadedModel) {
  GstElement* a = make_element();
  GstElement* b = make_element();
  ASSERT_EQ(gst_element_set_state(a, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  ASSERT_EQ(gst_element_set_state(b, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  {
    // The registry hands out the instance the elements hold: 2 + ours.
    auto m = cosal::Model::acquire(Env::model(), "cpu");
    EXPECT_EQ(m.use_count(), 3);
    gst_element_set_state(a, GST_STATE_NULL);
    EXPECT_EQ(m.use_count(), 2);
    gst_element_set_state(b, GST_STATE_NULL);
    EXPECT_EQ(m.use_count(), 1);
  }
  gst_object_unref(a);
  gst_object_unref(b);
}

TEST(Element, PropertiesThatFixTheStreamAreRefusedWhilePlaying) {
  Harness t("output=mask mode=streaming window-size=4");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  g_object_set(t.element, "mode", GST_COSALIENCY_MODE_WINDOW, "window-size", 9u, "output",
               GST_COSALIENCY_OUTPUT_ALPHA, "inference-size", 128u, nullptr);
  gint mode = -1, output = -1;
  guint ws = 0, is = 1;
  g_object_get(t.element, "mode", &mode, "output", &output, "window-size", &ws, "inference-size",
               &is, nullptr);
  EXPECT_EQ(mode, GST_COSALIENCY_MODE_STREAMING);
  EXPECT_EQ(output, GST_COSALIENCY_OUTPUT_MASK);
  EXPECT_EQ(ws, 4u);
  EXPECT_EQ(is, 0u);
  // Live properties do change.
  g_object_set(t.element, "threshold", 100u, "smoothing", 0.5, nullptr);
  guint th = 0;
  g_object_get(t.element, "threshold", &th, nullptr);
  EXPECT_EQ(th, 100u);
}

TEST(Element, ThresholdBinarisesTheMask) {
  Harness t("output=mask threshold=128");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 40, 30).c_str());
  ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 40, 30, 1), 0)),
            GST_FLOW_OK);
  GstBuffer* o = gst_harness_pull(t.h);
  GstCaps* caps = t.out_caps();
  for (uint8_t v : plane_bytes(o, caps, false)) ASSERT_TRUE(v == 0 || v == 255) << int(v);
  gst_caps_unref(caps);
  gst_buffer_unref(o);
}

// Where the definitions coincide (RGB at exactly the inference size,
// output=mask, soft, unsmoothed), the element's streaming masks are the
// engine's encode -> update -> decode, including the re-seeding from the
// window every refresh-interval frames.
TEST(Element, StreamingMasksEqualTheEnginesUpdateThenDecode) {
  auto model = cosal::Model::acquire(Env::model(), "cpu");
  const int n = 7, window = 3, refresh = 3;
  std::vector<GstBuffer*> frames;
  for (int i = 0; i < n; ++i) frames.push_back(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, i));
  std::vector<cosal::Features> feats;
  for (GstBuffer* f : frames) {
    GstVideoFrame vf;
    auto v = view_of(f, &vf, kSize, kSize);
    feats.push_back(model->encode({v})[0]);
    gst_video_frame_unmap(&vf);
  }
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant == 0 ? "persistent G" : "re-seeded every 3 frames");
    const std::string props = variant == 0 ? "output=mask refresh-interval=0"
                                           : "output=mask window-size=" + std::to_string(window) +
                                                 " refresh-interval=" + std::to_string(refresh);
    Harness t(props.c_str());
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
    cosal::GroupState g;
    std::vector<float> ref(static_cast<size_t>(kSize) * kSize);
    for (int i = 0; i < n; ++i) {
      if (variant == 1 && i % refresh == 0) {
        std::vector<cosal::Features> w(feats.begin() + std::max(0, i - window + 1),
                                       feats.begin() + i + 1);
        model->seed(g, w);
      } else {
        model->update(g, feats[static_cast<size_t>(i)]);
      }
      model->decode(g, feats[static_cast<size_t>(i)], ref.data());
      ASSERT_EQ(gst_harness_push(t.h, stamped(gst_buffer_ref(frames[static_cast<size_t>(i)]), i)),
                GST_FLOW_OK);
      GstBuffer* o = gst_harness_pull(t.h);
      GstCaps* caps = t.out_caps();
      EXPECT_LE(max_abs_diff(plane_bytes(o, caps, false), to_bytes(ref)), 1) << "frame " << i;
      gst_caps_unref(caps);
      gst_buffer_unref(o);
    }
  }
  for (GstBuffer* f : frames) gst_buffer_unref(f);
}

// A window covering the whole clip decodes every frame against the group of
// all frames: the engine's whole-group forward.
TEST(Element, WindowModeOverAWholeClipEqualsForwardGroup) {
  auto model = cosal::Model::acquire(Env::model(), "cpu");
  const int n = 4;
  std::vector<GstBuffer*> frames;
  std::vector<GstVideoFrame> mapped(n);
  std::vector<cosal::RgbView> views;
  for (int i = 0; i < n; ++i) {
    frames.push_back(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, i));
    views.push_back(view_of(frames.back(), &mapped[static_cast<size_t>(i)], kSize, kSize));
  }
  const auto ref = model->forward_group(views);
  for (auto& f : mapped) gst_video_frame_unmap(&f);

  Harness t("output=mask mode=window window-size=9 refresh-interval=1");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(gst_harness_push(t.h, stamped(gst_buffer_ref(frames[static_cast<size_t>(i)]), i)),
              GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u);
  gst_harness_push_event(t.h, gst_event_new_eos());
  ASSERT_EQ(gst_harness_buffers_in_queue(t.h), static_cast<guint>(n));
  for (int i = 0; i < n; ++i) {
    GstBuffer* o = gst_harness_pull(t.h);
    GstCaps* caps = t.out_caps();
    EXPECT_LE(max_abs_diff(plane_bytes(o, caps, false), to_bytes(ref[static_cast<size_t>(i)])), 1)
        << "frame " << i;
    gst_caps_unref(caps);
    gst_buffer_unref(o);
  }
  for (GstBuffer* f : frames) gst_buffer_unref(f);
}

TEST(Element, SmoothingBlendsWithThePreviousMask) {
  // Two different frames; with smoothing s the second mask is
  // (1 - s) * own + s * first (before rounding).
  std::vector<uint8_t> raw[2], smooth[2];
  for (int pass = 0; pass < 2; ++pass) {
    Harness t(pass == 0 ? "output=mask refresh-interval=0"
                        : "output=mask refresh-interval=0 smoothing=0.5");
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(
          gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, i * 3), i)),
          GST_FLOW_OK);
      GstBuffer* o = gst_harness_pull(t.h);
      GstCaps* caps = t.out_caps();
      (pass == 0 ? raw : smooth)[i] = plane_bytes(o, caps, false);
      gst_caps_unref(caps);
      gst_buffer_unref(o);
    }
  }
  EXPECT_EQ(max_abs_diff(raw[0], smooth[0]), 0);
  std::vector<uint8_t> expect(raw[1].size());
  for (size_t i = 0; i < expect.size(); ++i)
    expect[i] = static_cast<uint8_t>(std::lround(0.5 * raw[1][i] + 0.5 * raw[0][i]));
  EXPECT_LE(max_abs_diff(smooth[1], expect), 1);
}

TEST(MaskUpscaler, BilinearWithAlignedCentresThresholdAndStrides) {
  cosal::MaskUpscaler up;
  // 2x1 -> 4x1: source centres at 0.5 and 1.5 of 2 -> 0, .25, .75, 1.
  const float src[] = {0.f, 1.f};
  up.configure(2, 1, 4, 1);
  uint8_t out[4];
  up.run(src, out, 1, 4, 0);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 64);
  EXPECT_EQ(out[2], 191);
  EXPECT_EQ(out[3], 255);
  up.run(src, out, 1, 4, 128);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), (std::vector<uint8_t>{0, 0, 255, 255}));
  // Into the alpha byte of 4-byte pixels, leaving the colour bytes alone;
  // NaN and out-of-range values clamp instead of wrapping.
  const float odd[] = {std::nanf(""), 2.f, -1.f, 0.5f};
  up.configure(2, 2, 2, 2);
  std::vector<uint8_t> rgba(2 * 2 * 4 + 8, 7);  // rows 12 bytes apart
  up.run(odd, rgba.data() + 3, 4, 12, 0);
  EXPECT_EQ(rgba[3], 0);
  EXPECT_EQ(rgba[7], 255);
  EXPECT_EQ(rgba[12 + 3], 0);
  EXPECT_EQ(rgba[12 + 7], 128);
  for (size_t i = 0; i < rgba.size(); ++i) {
    const bool alpha = i == 3 || i == 7 || i == 15 || i == 19;
    EXPECT_TRUE(alpha || rgba[i] == 7) << i;
  }
}

TEST(Element, EdgeRefinePropertiesRoundTripAndChangeWhilePlaying) {
  Harness t("output=mask");
  gint refine = -1;
  guint radius = 0;
  g_object_get(t.element, "edge-refine", &refine, "edge-radius", &radius, nullptr);
  EXPECT_EQ(refine, GST_COSALIENCY_EDGE_REFINE_NONE);
  EXPECT_EQ(radius, static_cast<guint>(cosal::GuidedUpsampler::kDefaultRadius));
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 1));
  g_object_set(t.element, "edge-refine", GST_COSALIENCY_EDGE_REFINE_GUIDED, "edge-radius", 7u,
               nullptr);
  g_object_get(t.element, "edge-refine", &refine, "edge-radius", &radius, nullptr);
  EXPECT_EQ(refine, GST_COSALIENCY_EDGE_REFINE_GUIDED);
  EXPECT_EQ(radius, 7u);
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 1, 2));
  for (int i = 0; i < 2; ++i) gst_buffer_unref(gst_harness_pull(t.h));
  Harness named("edge-refine=guided edge-radius=3");
  g_object_get(named.element, "edge-refine", &refine, "edge-radius", &radius, nullptr);
  EXPECT_EQ(refine, GST_COSALIENCY_EDGE_REFINE_GUIDED);
  EXPECT_EQ(radius, 3u);
}

// The shipped model: a tiny random one's masks are nearly flat, and a flat
// mask has no edge to refine.
std::string shipped_model() {
  const char* src = std::getenv("COSAL_SOURCE_DIR");
  const fs::path p = src ? fs::path(src) / "model" / "default.safetensors" : fs::path();
  return !p.empty() && fs::exists(p) ? p.string() : std::string();
}

// RGB at exactly the inference size, so the engine's float mask is known:
// edge-refine=guided writes GuidedUpsampler's result for it with the frame's
// BT.601 luma as the guide, and that differs from the bilinear mask.
TEST(Element, GuidedMasksAreTheGuidedUpsamplersOnTheEnginesMask) {
  const std::string shipped = shipped_model();
  if (shipped.empty()) GTEST_SKIP() << "no model/default.safetensors";
  auto model = cosal::Model::acquire(shipped, "cpu");
  const int w = model->info().input_width, h = model->info().input_height;
  GstBuffer* frame = make_frame(GST_VIDEO_FORMAT_RGB, w, h, 2);
  GstVideoFrame vf;
  const cosal::RgbView v = view_of(frame, &vf, w, h);
  std::vector<uint8_t> luma(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = v.data + y * v.stride + 3 * x;
      luma[static_cast<size_t>(y) * w + x] =
          static_cast<uint8_t>((77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8);
    }
  cosal::GroupState g;
  const cosal::Features f = model->encode({v})[0];
  gst_video_frame_unmap(&vf);
  model->update(g, f);
  std::vector<float> ref(static_cast<size_t>(w) * h);
  model->decode(g, f, ref.data());
  cosal::GuidedUpsampler up;
  up.set_params(2, cosal::GuidedUpsampler::kDefaultEps);
  up.configure(w, h, w, h);
  std::vector<uint8_t> expect(ref.size());
  up.run(ref.data(), cosal::LumaView{luma.data(), w, h, w}, expect.data(), 1, w, 0);

  std::vector<uint8_t> got[2];
  for (int guided = 0; guided < 2; ++guided) {
    Harness t("model=\"" + shipped + "\" output=mask refresh-interval=0" +
              (guided ? " edge-refine=guided edge-radius=2" : ""));
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", w, h).c_str());
    ASSERT_EQ(gst_harness_push(t.h, stamped(gst_buffer_ref(frame), 0)), GST_FLOW_OK);
    GstBuffer* o = gst_harness_pull(t.h);
    GstCaps* caps = t.out_caps();
    got[guided] = plane_bytes(o, caps, false);
    gst_caps_unref(caps);
    gst_buffer_unref(o);
  }
  gst_buffer_unref(frame);
  EXPECT_LE(max_abs_diff(got[0], to_bytes(ref)), 1);
  EXPECT_LE(max_abs_diff(got[1], expect), 1);
  int changed = 0;
  for (size_t i = 0; i < got[0].size(); ++i) changed += std::abs(got[0][i] - got[1][i]) > 4;
  EXPECT_GT(changed, w) << "guided barely differs from bilinear";
}

// Every output mode writes the same guided mask, for a YUV guide (the Y
// plane) and RGB-family ones (computed luma, in place for RGBA), and it is
// not the bilinear one.
TEST(Element, GuidedAppliesToEveryOutputAndFormat) {
  const std::string shipped = shipped_model();
  if (shipped.empty()) GTEST_SKIP() << "no model/default.safetensors";
  for (const char* format : {"I420", "NV12", "RGBA", "BGR"}) {
    SCOPED_TRACE(format);
    const GstVideoFormat vf = gst_video_format_from_string(format);
    std::vector<uint8_t> masks[2][3];
    for (int guided = 0; guided < 2; ++guided)
      for (int o = 0; o < 3; ++o) {
        const char* outputs[] = {"output=alpha", "output=mask", "output=meta"};
        Harness t("model=\"" + shipped + "\" " + outputs[o] +
                  (guided ? " edge-refine=guided" : ""));
        gst_harness_set_src_caps_str(t.h, caps_str(format, 150, 94).c_str());
        ASSERT_EQ(gst_harness_push(t.h, stamped(make_frame(vf, 150, 94, 3), 0)), GST_FLOW_OK);
        GstBuffer* out = gst_harness_pull(t.h);
        ASSERT_NE(out, nullptr);
        if (o == 2) {
          GstCosalMaskMeta* m = gst_buffer_get_cosal_mask_meta(out);
          ASSERT_NE(m, nullptr);
          for (guint y = 0; y < m->height; ++y)
            masks[guided][o].insert(masks[guided][o].end(), m->data + y * m->stride,
                                    m->data + y * m->stride + m->width);
        } else {
          GstCaps* caps = t.out_caps();
          masks[guided][o] = plane_bytes(out, caps, o == 0);
          gst_caps_unref(caps);
        }
        gst_buffer_unref(out);
      }
    EXPECT_EQ(masks[1][0], masks[1][1]);
    EXPECT_EQ(masks[1][1], masks[1][2]);
    EXPECT_GT(max_abs_diff(masks[0][1], masks[1][1]), 8);
  }
}

TEST(Element, RefreshIntervalCanChangeWhilePlaying) {
  Harness t("output=mask refresh-interval=0 window-size=2");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 4));
  EXPECT_EQ(t.stat("seeds"), 1u);  // only the first frame
  g_object_set(t.element, "refresh-interval", 1, nullptr);
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 4, 7));
  EXPECT_EQ(t.stat("seeds"), 4u);
}

// Every stats counter, the group window's included, counts from the last start.
TEST(Element, StatsCountFromTheLastStart) {
  Harness t("output=mask refresh-interval=0 window-size=2");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 3));
  EXPECT_EQ(t.stat("frames-in"), 3u);
  EXPECT_EQ(t.stat("seeds"), 1u);         // the first frame
  EXPECT_EQ(t.stat("rcau-updates"), 2u);  // one RCAU step for each later frame
  ASSERT_NE(gst_element_set_state(t.element, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  ASSERT_NE(gst_element_set_state(t.element, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(t.stat("frames-in"), 0u);
  EXPECT_EQ(t.stat("seeds"), 0u);
  EXPECT_EQ(t.stat("rcau-updates"), 0u);
}

// inference-size sets the long side and keeps the aspect ratio: a 64x48
// frame with inference-size=64 is encoded at 64x48 exactly (48 being a
// multiple of the model's stride), so the mask equals the engine's at 64x48.
TEST(Element, InferenceSizeKeepsTheAspectRatio) {
  auto model = cosal::Model::acquire(Env::model(), "cpu");
  const int m = model->info().size_multiple;
  if (48 % m != 0 || 64 % m != 0) GTEST_SKIP() << "model stride " << m << " does not divide 64x48";
  GstBuffer* frame = make_frame(GST_VIDEO_FORMAT_RGB, 64, 48, 4);
  GstVideoFrame vf;
  auto view = view_of(frame, &vf, 64, 48);
  auto feats = model->encode({view});
  gst_video_frame_unmap(&vf);
  std::vector<float> ref(64 * 48);
  cosal::GroupState g;
  model->update(g, feats[0]);
  model->decode(g, feats[0], ref.data());

  Harness t("output=mask inference-size=64");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 64, 48).c_str());
  ASSERT_EQ(gst_harness_push(t.h, stamped(frame, 0)), GST_FLOW_OK);
  GstBuffer* o = gst_harness_pull(t.h);
  GstCaps* caps = t.out_caps();
  EXPECT_LE(max_abs_diff(plane_bytes(o, caps, false), to_bytes(ref)), 1);
  gst_caps_unref(caps);
  gst_buffer_unref(o);
}

// Window mode (default refresh): frame t is decoded against G seeded from
// exactly frames t-1..t+1 (window-size 3), clipped at the clip's ends.
TEST(Element, WindowModeDecodesEachFrameAgainstItsOwnWindow) {
  auto model = cosal::Model::acquire(Env::model(), "cpu");
  const int n = 5;
  std::vector<GstBuffer*> frames;
  std::vector<cosal::Features> feats;
  for (int i = 0; i < n; ++i) {
    frames.push_back(make_frame(GST_VIDEO_FORMAT_RGB, kSize, kSize, i * 2));
    GstVideoFrame vf;
    auto v = view_of(frames.back(), &vf, kSize, kSize);
    feats.push_back(model->encode({v})[0]);
    gst_video_frame_unmap(&vf);
  }
  Harness t("output=mask mode=window window-size=3");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", kSize, kSize).c_str());
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(gst_harness_push(t.h, stamped(gst_buffer_ref(frames[static_cast<size_t>(i)]), i)),
              GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(t.h, gst_event_new_eos()));
  ASSERT_EQ(gst_harness_buffers_in_queue(t.h), static_cast<guint>(n));
  std::vector<float> ref(static_cast<size_t>(kSize) * kSize);
  for (int i = 0; i < n; ++i) {
    cosal::GroupState g;
    model->seed(g, std::vector<cosal::Features>(feats.begin() + std::max(0, i - 1),
                                                feats.begin() + std::min(n, i + 2)));
    model->decode(g, feats[static_cast<size_t>(i)], ref.data());
    GstBuffer* o = gst_harness_pull(t.h);
    GstCaps* caps = t.out_caps();
    EXPECT_LE(max_abs_diff(plane_bytes(o, caps, false), to_bytes(ref)), 1) << "frame " << i;
    gst_caps_unref(caps);
    gst_buffer_unref(o);
  }
  for (GstBuffer* f : frames) gst_buffer_unref(f);
}

// The element is the stream processor plus GStreamer: the same frames through
// both give the same masks to the last bit, on the shipped trained model,
// in both modes, with smoothing and across a scene cut. RGB at the model's
// native size makes the element's conversion a copy, and output=mask at that
// size makes its MaskUpscaler an identity rounding, so any difference is in
// how the element pairs frames with masks or drives the processor.
TEST(Element, MasksAreTheStreamProcessorsToTheLastBitOnTheShippedModel) {
  const char* src = std::getenv("COSAL_SOURCE_DIR");
  const fs::path shipped = src ? fs::path(src) / "model" / "default.safetensors" : fs::path();
  if (shipped.empty() || !fs::exists(shipped)) GTEST_SKIP() << "no model/default.safetensors";
  auto model = cosal::Model::acquire(shipped.string(), "cpu");
  const int w = model->info().input_width, h = model->info().input_height;
  // Real video where ../shared is there (two DAVIS sequences back to back,
  // so the scene-cut variant cuts), generated frames otherwise.
  std::vector<std::vector<uint8_t>> frames;
  const char* shared = std::getenv("COSAL_SHARED_DIR");
  const fs::path davis = shared ? fs::path(shared) / "data/davis2016/JPEGImages/480p" : fs::path();
  for (const char* seq : {"car-shadow", "cows"}) {
    const fs::path dir = davis / seq;
    if (davis.empty() || !fs::is_directory(dir)) break;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (size_t i = 0; i < 10 && i < files.size(); ++i)
      frames.push_back(cosal::resize(cosal::load_image(files[i].string(), 3), w, h).pixels);
  }
  if (frames.size() < 20) {
    frames.clear();
    for (int i = 0; i < 20; ++i) {
      GstBuffer* b = make_frame(GST_VIDEO_FORMAT_RGB, w, h, i < 10 ? i : 100 + i);
      GstVideoFrame vf;
      auto v = view_of(b, &vf, w, h);
      std::vector<uint8_t> packed(static_cast<size_t>(w) * h * 3);
      for (int y = 0; y < h; ++y)
        std::memcpy(&packed[static_cast<size_t>(y) * w * 3], v.data + y * v.stride, w * 3u);
      gst_video_frame_unmap(&vf);
      gst_buffer_unref(b);
      frames.push_back(std::move(packed));
    }
  }
  struct Variant {
    const char* props;
    cosal::StreamOptions options;
  };
  auto opts = [](cosal::StreamOptions::Mode mode, int window, int refresh, double smoothing,
                 double cut) {
    cosal::StreamOptions o;
    o.mode = mode;
    o.window_size = window;
    o.refresh_interval = refresh;
    o.smoothing = smoothing;
    o.scene_cut_threshold = cut;
    return o;
  };
  using M = cosal::StreamOptions::Mode;
  const Variant variants[] = {
      {"", opts(M::kStreaming, 8, -1, 0, 0)},  // the element's defaults
      {"mode=window window-size=5", opts(M::kWindow, 5, -1, 0, 0)},
      {"window-size=4 refresh-interval=3 smoothing=0.3", opts(M::kStreaming, 4, 3, 0.3, 0)},
      {"mode=window window-size=7 scene-cut-threshold=0.15", opts(M::kWindow, 7, -1, 0, 0.15)},
  };
  cosal::MaskUpscaler identity;
  identity.configure(w, h, w, h);
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.props);
    cosal::StreamProcessor p(v.options);
    std::vector<std::vector<uint8_t>> want;
    std::vector<float> mask(static_cast<size_t>(w) * h);
    auto take = [&]() {
      while (p.ready()) {
        p.pop(*model, mask.data());
        want.emplace_back(mask.size());
        identity.run(mask.data(), want.back().data(), 1, w, 0);
      }
    };
    for (const auto& f : frames) {
      p.push(*model, cosal::RgbView{f.data(), w, h, w * 3});
      take();
    }
    p.drain(*model);
    take();

    GError* err = nullptr;
    const std::string desc = std::string("cosaliency device=cpu output=mask model=\"") +
                             shipped.string() + "\" " + v.props;
    GstElement* e = gst_parse_launch(desc.c_str(), &err);
    ASSERT_EQ(err, nullptr);
    GstHarness* hs = gst_harness_new_with_element(e, "sink", "src");
    gst_harness_set_src_caps_str(hs, caps_str("RGB", w, h).c_str());
    for (size_t i = 0; i < frames.size(); ++i) {
      GstBuffer* b = gst_buffer_new_memdup(frames[i].data(), frames[i].size());
      ASSERT_EQ(gst_harness_push(hs, stamped(b, static_cast<int>(i))), GST_FLOW_OK);
    }
    ASSERT_TRUE(gst_harness_push_event(hs, gst_event_new_eos()));
    ASSERT_EQ(gst_harness_buffers_in_queue(hs), frames.size());
    if (v.options.scene_cut_threshold > 0 && frames.size() == 20) {
      EXPECT_GE(element_stat(e, "scene-cuts"), 1u) << "the variant should cut";
    }
    GstCaps* caps = gst_pad_get_current_caps(hs->sinkpad);
    for (size_t i = 0; i < frames.size(); ++i) {
      GstBuffer* o = gst_harness_pull(hs);
      EXPECT_EQ(max_abs_diff(plane_bytes(o, caps, false), want[i]), 0) << "frame " << i;
      gst_buffer_unref(o);
    }
    gst_caps_unref(caps);
    gst_harness_teardown(hs);
    gst_object_unref(e);
  }
}

// The latency estimate follows each frame's own time: after a slow first
// frame it settles on the steady cost instead of dragging a running mean.
TEST(ProcessingTime, FollowsPerFrameTimesAndAsksForOneLatencyMessage) {
  cosal::ProcessingTime p;
  constexpr int64_t ms = 1000000;
  EXPECT_TRUE(p.observe(400 * ms)) << "more than was reported (nothing yet)";
  EXPECT_EQ(p.report(), 400 * ms);
  bool asked = false;
  for (int i = 0; i < 60; ++i) asked |= p.observe(10 * ms);
  EXPECT_FALSE(asked) << "it only got cheaper";
  // A cumulative mean of these 61 frames would still be 16.4 ms.
  EXPECT_LT(p.estimate(), 11 * ms);
  EXPECT_GE(p.estimate(), 10 * ms);
  p.report();
  int asks = 0;
  for (int i = 0; i < 30; ++i) asks += p.observe(40 * ms) ? 1 : 0;
  EXPECT_EQ(asks, 1) << "one latency message until the next query";
  p.clear();
  EXPECT_EQ(p.estimate(), 0);
}

int gst_refusals = 0;
void count_refusals(GstDebugCategory*, GstDebugLevel level, const gchar*, const gchar*, gint,
                    GObject*, GstDebugMessage* message, gpointer) {
  if (level == GST_LEVEL_WARNING &&
      std::string(gst_debug_message_get(message)).find("cannot change") != std::string::npos)
    ++gst_refusals;
}

// A refused property change is a GStreamer warning on the element's debug
// category, not a GLib warning (which G_DEBUG=fatal-warnings turns into an
// abort, and which the tests used to have to silence).
TEST(Element, RefusedPropertyChangeIsAGstWarningNotAGlibOne) {
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  static int glib_warnings = 0;
  glib_warnings = gst_refusals = 0;
  const guint handler = g_log_set_handler(
      nullptr, static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL),
      [](const gchar*, GLogLevelFlags, const gchar*, gpointer) { ++glib_warnings; }, nullptr);
  GstDebugLevel old = gst_debug_get_default_threshold();
  gst_debug_set_threshold_for_name("cosaliency", GST_LEVEL_WARNING);
  gst_debug_add_log_function(count_refusals, nullptr, nullptr);
  g_object_set(t.element, "window-size", 9u, nullptr);
  gst_debug_remove_log_function(count_refusals);
  gst_debug_set_threshold_for_name("cosaliency", old);
  g_log_remove_handler(nullptr, handler);
  guint ws = 0;
  g_object_get(t.element, "window-size", &ws, nullptr);
  EXPECT_EQ(ws, 8u) << "refused";
  EXPECT_EQ(glib_warnings, 0);
  EXPECT_EQ(gst_refusals, 1);
}

// The stats property's description names every counter the structure has.
TEST(Element, StatsDescriptionNamesEveryCounter) {
  GstElement* e = make_element("");
  GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(e), "stats");
  ASSERT_NE(spec, nullptr);
  const std::string blurb = g_param_spec_get_blurb(spec);
  GstStructure* s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < gst_structure_n_fields(s); ++i) {
    const std::string name = gst_structure_nth_field_name(s, static_cast<guint>(i));
    EXPECT_NE(blurb.find(name), std::string::npos) << name << " missing from: " << blurb;
  }
  gst_structure_free(s);
  gst_object_unref(e);
}

// Frames drained at an event (here new caps in window mode) whose push fails
// downstream: the failure reaches upstream with the next buffer instead of
// vanishing.
TEST(Element, AFailedPushOfDrainedFramesReachesUpstream) {
  Harness t("output=mask mode=window window-size=9");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 3));
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u) << "held for their look-ahead";
  // Downstream now refuses everything.
  gst_pad_set_chain_function(t.h->sinkpad, [](GstPad*, GstObject*, GstBuffer* b) {
    gst_buffer_unref(b);
    return GST_FLOW_ERROR;
  });
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 40, 30).c_str());  // drains the 3 held
  GstBuffer* next = stamped(make_frame(GST_VIDEO_FORMAT_RGB, 40, 30, 5), 5);
  EXPECT_EQ(gst_harness_push(t.h, next), GST_FLOW_ERROR);
}

namespace {

// Mapping this frame's input takes 1 s: its GstVideoMeta's map sleeps first.
// One frame the element is slow on, deterministically.
constexpr gulong kSlowMapUs = 1000000;
gboolean (*plain_video_map)(GstVideoMeta*, guint, GstMapInfo*, gpointer*, gint*,
                            GstMapFlags) = nullptr;
GstBuffer* slow_to_map(GstBuffer* b, int w, int h) {
  GstVideoMeta* m =
      gst_buffer_add_video_meta(b, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_RGB, w, h);
  plain_video_map = m->map;
  m->map = [](GstVideoMeta* meta, guint plane, GstMapInfo* info, gpointer* data, gint* stride,
              GstMapFlags flags) -> gboolean {
    g_usleep(kSlowMapUs);
    return plain_video_map(meta, plane, info, data, stride, flags);
  };
  return b;
}

}  // namespace

// The processing time the LATENCY query adds follows each frame's own time:
// after one frame that takes 1 s and 30 ordinary ones it is back at what the
// ordinary ones cost, where a mean since the start would still carry
// 1 s / 36 frames. The bound is the same moving average over the wall time
// of the pushes, which contain the element's own measurements (a frame's
// encode, and the decode and render of the one before), so load on the
// machine only loosens it.
TEST(Element, LatencyFollowsEachFramesTimeNotTheMeanSinceTheStart) {
  Harness t("output=mask");
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  std::vector<double> push_ns;
  int i = 0;
  auto push = [&](GstBuffer* b) {
    const auto t0 = std::chrono::steady_clock::now();
    const GstFlowReturn r = gst_harness_push(t.h, stamped(b, i++));
    push_ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
    if (r == GST_FLOW_OK) gst_buffer_unref(gst_harness_pull(t.h));
    return r;
  };
  for (int k = 0; k < 3; ++k)
    ASSERT_EQ(push(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, i)), GST_FLOW_OK);
  ASSERT_EQ(push(slow_to_map(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, i), 32, 24)), GST_FLOW_OK);
  for (int k = 0; k < 2; ++k)
    ASSERT_EQ(push(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, i)), GST_FLOW_OK);
  const GstClockTime slow = gst_harness_query_latency(t.h);
  // The slow frame weighs 1/8, then 7/8 less with each of the two after it.
  EXPECT_GE(slow, kSlowMapUs * GST_USECOND / 8 * 49 / 64);
  double bound = static_cast<double>(slow);
  for (int k = 0; k < 30; ++k) {
    ASSERT_EQ(push(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, i)), GST_FLOW_OK);
    const size_t n = push_ns.size();
    bound = (7 * bound + push_ns[n - 1] + push_ns[n - 2]) / 8;
  }
  const GstClockTime now = gst_harness_query_latency(t.h);
  EXPECT_LE(static_cast<double>(now), bound)
      << "after the slow frame " << slow / 1e6 << " ms, 30 frames later " << now / 1e6
      << " ms, their own times allow " << bound / 1e6 << " ms";
}

namespace {

// An allocator whose memory maps for writing only: a buffer from it can be
// filled but not read back.
struct WriteOnlyMemory {
  GstMemory mem;
  guint8* data;
};
struct WriteOnlyAllocator {
  GstAllocator parent;
};
struct WriteOnlyAllocatorClass {
  GstAllocatorClass parent_class;
};
G_DEFINE_TYPE(WriteOnlyAllocator, write_only_allocator, GST_TYPE_ALLOCATOR)

void write_only_allocator_class_init(WriteOnlyAllocatorClass* klass) {
  GstAllocatorClass* c = GST_ALLOCATOR_CLASS(klass);
  c->alloc = [](GstAllocator* a, gsize size, GstAllocationParams* p) -> GstMemory* {
    auto* m = g_new0(WriteOnlyMemory, 1);
    const gsize maxsize = p->prefix + size + p->padding;
    m->data = static_cast<guint8*>(g_malloc0(maxsize));
    gst_memory_init(GST_MEMORY_CAST(m), p->flags, a, nullptr, maxsize, 0, p->prefix, size);
    return GST_MEMORY_CAST(m);
  };
  c->free = [](GstAllocator*, GstMemory* mem) {
    auto* m = reinterpret_cast<WriteOnlyMemory*>(mem);
    g_free(m->data);
    g_free(m);
  };
}

void write_only_allocator_init(WriteOnlyAllocator* self) {
  GstAllocator* a = GST_ALLOCATOR_CAST(self);
  a->mem_type = "WriteOnly";
  a->mem_map = [](GstMemory* mem, gsize, GstMapFlags flags) -> gpointer {
    return (flags & GST_MAP_WRITE) ? reinterpret_cast<WriteOnlyMemory*>(mem)->data : nullptr;
  };
  a->mem_unmap = [](GstMemory*) {};
}

}  // namespace

// A mask meta the element cannot attach is a stream error, not a frame
// pushed on without its mask. Here the element's mask pool (filled from the
// default allocator when the caps arrive) holds memory that cannot be mapped
// for reading, which the meta needs.
TEST(Element, AMaskMetaThatCannotBeAttachedIsAnError) {
  Harness t("output=meta");
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(t.element, bus);
  gst_allocator_set_default(GST_ALLOCATOR_CAST(
      gst_object_ref_sink(g_object_new(write_only_allocator_get_type(), nullptr))));
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  gst_allocator_set_default(gst_allocator_find(GST_ALLOCATOR_SYSMEM));
  EXPECT_EQ(gst_harness_push(t.h, stamped(make_frame(GST_VIDEO_FORMAT_RGB, 32, 24, 0), 0)),
            GST_FLOW_ERROR);
  EXPECT_EQ(gst_harness_buffers_in_queue(t.h), 0u) << "a frame went on without its mask";
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr);
  GError* err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  EXPECT_NE(std::string(err->message).find("mask meta"), std::string::npos) << err->message;
  g_error_free(err);
  gst_message_unref(msg);
  gst_element_set_bus(t.element, nullptr);
  gst_object_unref(bus);
}

// threads is the streaming thread's choice, not a process-wide side effect
// of setting a property: the application's thread keeps its count until
// that thread itself streams through the element (GstHarness pushes from the
// calling thread).
TEST(Element, ThreadsAppliesToTheStreamingThreadOnly) {
  cosal::set_cpu_threads(2);
  Harness t("output=mask");
  g_object_set(t.element, "threads", 1u, nullptr);
  EXPECT_EQ(cosal::cpu_threads(), 2) << "setting the property changed the caller's threads";
  gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
  ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 1));
  EXPECT_EQ(cosal::cpu_threads(), 1) << "the streaming thread runs with the element's count";
  cosal::set_cpu_threads(0);
}

// The default (threads=0) uses the machine, not LibTorch's default of a new
// thread (1 where cpuinfo counts one physical core): $OMP_NUM_THREADS when
// set, else one thread per CPU of the affinity mask.
TEST(Element, DefaultThreadsFollowOmpNumThreadsOrTheCpus) {
#if defined(__SANITIZE_THREAD__)
  // tools/run-sanitizers.sh pins OMP_NUM_THREADS=1: Debian's libgomp is not
  // instrumented, and TSan reports its barrier as races once it has workers.
  GTEST_SKIP() << "starts LibTorch's OpenMP workers, which ThreadSanitizer cannot see into";
#endif
  const char* had = std::getenv("OMP_NUM_THREADS");
  const std::string saved = had ? had : "";
  setenv("OMP_NUM_THREADS", "3", 1);
  {
    cosal::set_cpu_threads(1);
    Harness t("output=mask");
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
    ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 1));
    EXPECT_EQ(cosal::cpu_threads(), 3) << "threads=0 did not take $OMP_NUM_THREADS";
  }
  unsetenv("OMP_NUM_THREADS");
  {
    cosal::set_cpu_threads(1);
    Harness t("output=mask");
    gst_harness_set_src_caps_str(t.h, caps_str("RGB", 32, 24).c_str());
    ASSERT_TRUE(push_frames(t, GST_VIDEO_FORMAT_RGB, 32, 24, 0, 1));
    EXPECT_EQ(cosal::cpu_threads(), cosal::default_cpu_threads());
  }
  if (had) setenv("OMP_NUM_THREADS", saved.c_str(), 1);
  cosal::set_cpu_threads(0);
}
