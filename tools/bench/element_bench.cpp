#include "element_bench.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "gstcosaliency.h"
#include "mask_upscaler.h"
#include "synthetic_frames.h"

namespace cosal::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kDistinctFrames = 8;
constexpr int kFpsN = 30;

GstVideoFormat parse_format(const std::string& name) {
  const GstVideoFormat f = gst_video_format_from_string(name.c_str());
  if (f == GST_VIDEO_FORMAT_UNKNOWN) throw std::invalid_argument("unknown video format " + name);
  return f;
}

GstVideoInfo video_info(GstVideoFormat format, int width, int height) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, format, static_cast<guint>(width), static_cast<guint>(height));
  GST_VIDEO_INFO_FPS_N(&info) = kFpsN;
  GST_VIDEO_INFO_FPS_D(&info) = 1;
  return info;
}

// One converter, freed with its owner.
struct Converter {
  GstVideoConverter* c = nullptr;
  Converter(const GstVideoInfo& in, const GstVideoInfo& out, bool resample, guint threads) {
    GstStructure* opts = gst_structure_new(
        "options", GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD,
        GST_VIDEO_DITHER_NONE, GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, threads, nullptr);
    if (resample)
      gst_structure_set(opts, GST_VIDEO_CONVERTER_OPT_RESAMPLER_METHOD,
                        GST_TYPE_VIDEO_RESAMPLER_METHOD, GST_VIDEO_RESAMPLER_METHOD_LINEAR,
                        nullptr);
    c = gst_video_converter_new(const_cast<GstVideoInfo*>(&in), const_cast<GstVideoInfo*>(&out),
                                opts);
    if (!c) throw std::runtime_error("cannot create a video converter");
  }
  ~Converter() { gst_video_converter_free(c); }
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;
};

// A mapped video frame, unmapped with its owner.
struct MappedFrame {
  GstVideoFrame f{};
  MappedFrame(const GstVideoInfo& info, GstBuffer* buffer, GstMapFlags flags) {
    if (!gst_video_frame_map(&f, const_cast<GstVideoInfo*>(&info), buffer, flags))
      throw std::runtime_error("cannot map a video frame");
  }
  ~MappedFrame() { gst_video_frame_unmap(&f); }
  MappedFrame(const MappedFrame&) = delete;
  MappedFrame& operator=(const MappedFrame&) = delete;
};

// Synthetic frames in `format`, converted once from packed RGB.
std::vector<GstBuffer*> make_frames(GstVideoFormat format, int width, int height) {
  const GstVideoInfo rgb_info = video_info(GST_VIDEO_FORMAT_RGB, width, height);
  const GstVideoInfo info = video_info(format, width, height);
  const Converter conv(rgb_info, info, false, 1);
  std::vector<GstBuffer*> frames;
  for (int i = 0; i < kDistinctFrames; ++i) {
    std::vector<uint8_t> rgb = synthetic_rgb(width, height, i);
    GstBuffer* src = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&rgb_info), nullptr);
    GstBuffer* dst = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    {
      const MappedFrame s(rgb_info, src, GST_MAP_WRITE);
      auto* p = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&s.f, 0));
      const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&s.f, 0);
      for (int y = 0; y < height; ++y)
        std::copy_n(rgb.data() + static_cast<size_t>(y) * width * 3, width * 3,
                    p + static_cast<size_t>(y) * stride);
      MappedFrame d(info, dst, GST_MAP_WRITE);
      gst_video_converter_frame(conv.c, &s.f, &d.f);
    }
    gst_buffer_unref(src);
    frames.push_back(dst);
  }
  return frames;
}

void unref_all(std::vector<GstBuffer*>& frames) {
  for (GstBuffer* b : frames) gst_buffer_unref(b);
  frames.clear();
}

// What the two pad probes see; both run in the streaming thread, the lock
// only orders them against the reader after EOS.
struct ProbeLog {
  std::mutex m;
  std::unordered_map<GstClockTime, Clock::time_point> entered;
  std::vector<double> latency_ms;  // in output order
  Clock::time_point first_in, last_out;
  bool any_in = false;
  int unmatched = 0;
};

GstPadProbeReturn on_sink(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* log = static_cast<ProbeLog*>(data);
  const GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(log->m);
  if (!log->any_in) log->first_in = now;
  log->any_in = true;
  log->entered[GST_BUFFER_PTS(b)] = now;
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn on_src(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* log = static_cast<ProbeLog*>(data);
  const GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(log->m);
  auto it = log->entered.find(GST_BUFFER_PTS(b));
  if (it == log->entered.end()) {
    ++log->unmatched;
  } else {
    log->latency_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    log->entered.erase(it);
  }
  log->last_out = now;
  return GST_PAD_PROBE_OK;
}

// User + system CPU time of the whole process, ms.
double process_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

GstElement* make(const char* factory, const char* name) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (!e) throw std::runtime_error(std::string("GStreamer element \"") + factory + "\" is missing");
  return e;
}

Summary time_runs(int warmup, int runs, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(ms_since(t0));
  }
  return summarize(std::move(ms));
}

}  // namespace

void register_element() {
  static const bool registered = [] {
    return gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "cosaliency",
                                      "co-saliency (cosal-bench)", gst_cosaliency_plugin_init, "0",
                                      "LGPL", "cosaliency", "cosaliency", "cosal-bench") == TRUE;
  }();
  if (!registered) throw std::runtime_error("cannot register the cosaliency element");
}

ElementRun run_element(const ElementOptions& o, int width, int height, const std::string& mode,
                       int window) {
  register_element();
  const GstVideoFormat format = parse_format(o.format);
  std::vector<GstBuffer*> frames = make_frames(format, width, height);
  const GstVideoInfo info = video_info(format, width, height);

  GstElement* pipeline = gst_pipeline_new("cosal-bench");
  GstElement* src = make("appsrc", "src");
  GstElement* cosal = make("cosaliency", "cosal");
  GstElement* sink = make("fakesink", "sink");
  gst_bin_add_many(GST_BIN(pipeline), src, cosal, sink, nullptr);
  GstCaps* caps = gst_video_info_to_caps(&info);
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE, "block", TRUE,
               "max-bytes", static_cast<guint64>(0), nullptr);
  gst_caps_unref(caps);
  gst_app_src_set_max_buffers(GST_APP_SRC(src), 4);
  g_object_set(cosal, "model", o.model.c_str(), "device", o.device.c_str(), "window-size",
               static_cast<guint>(window), "refresh-interval",
               static_cast<guint>(o.refresh_interval), "inference-size",
               static_cast<guint>(o.inference_size), nullptr);
  if (o.threads > 0) g_object_set(cosal, "threads", static_cast<guint>(o.threads), nullptr);
  gst_util_set_object_arg(G_OBJECT(cosal), "mode", mode.c_str());
  gst_util_set_object_arg(G_OBJECT(cosal), "output", o.output.c_str());
  gst_util_set_object_arg(G_OBJECT(cosal), "edge-refine", o.edge_refine.c_str());
  g_object_set(sink, "sync", FALSE, "enable-last-sample", FALSE, nullptr);
  if (!gst_element_link_many(src, cosal, sink, nullptr)) {
    gst_object_unref(pipeline);
    unref_all(frames);
    throw std::runtime_error("cannot link appsrc ! cosaliency ! fakesink");
  }

  ProbeLog log;
  GstPad* sinkpad = gst_element_get_static_pad(cosal, "sink");
  GstPad* srcpad = gst_element_get_static_pad(cosal, "src");
  gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, on_sink, &log, nullptr);
  gst_pad_add_probe(srcpad, GST_PAD_PROBE_TYPE_BUFFER, on_src, &log, nullptr);
  gst_object_unref(sinkpad);
  gst_object_unref(srcpad);

  std::string error;
  double cpu_start = 0, cpu_end = 0;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    error = "the pipeline did not start";
  std::thread producer;
  if (error.empty()) {
    cpu_start = process_cpu_ms();
    producer = std::thread([&] {
      const GstClockTime duration = GST_SECOND / kFpsN;
      for (int i = 0; i < o.frames; ++i) {
        // A new buffer sharing the frame's memory: only the timestamps differ.
        GstBuffer* b = gst_buffer_copy(frames[static_cast<size_t>(i) % frames.size()]);
        GST_BUFFER_PTS(b) = static_cast<GstClockTime>(i) * duration;
        GST_BUFFER_DURATION(b) = duration;
        if (gst_app_src_push_buffer(GST_APP_SRC(src), b) != GST_FLOW_OK) return;
      }
      gst_app_src_end_of_stream(GST_APP_SRC(src));
    });
    GstBus* bus = gst_element_get_bus(pipeline);
    // Generous: even a slow machine does a frame in well under 10 s.
    const GstClockTime timeout = GST_SECOND * (60 + 10 * static_cast<GstClockTime>(o.frames));
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, timeout, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (!msg) {
      error = "no EOS within the time limit";
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      error =
          std::string(err ? err->message : "error") + (dbg ? std::string(" (") + dbg + ")" : "");
      g_clear_error(&err);
      g_free(dbg);
    }
    if (msg) gst_message_unref(msg);
    gst_object_unref(bus);
    cpu_end = process_cpu_ms();
  }

  ElementRun r;
  r.width = width;
  r.height = height;
  r.mode = mode;
  r.window = window;
  GstStructure* stats = nullptr;
  g_object_get(cosal, "stats", &stats, nullptr);
  if (stats) {
    gst_structure_get_double(stats, "mean-inference-ms", &r.element_mean_inference_ms);
    gst_structure_free(stats);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);  // unblocks a waiting producer
  if (producer.joinable()) producer.join();
  gst_object_unref(pipeline);
  unref_all(frames);
  if (!error.empty())
    throw std::runtime_error("element run " + std::to_string(width) + "x" + std::to_string(height) +
                             " " + mode + " window " + std::to_string(window) + ": " + error);

  std::lock_guard<std::mutex> lock(log.m);
  r.frames_out = static_cast<int>(log.latency_ms.size()) + log.unmatched;
  if (r.frames_out != o.frames || log.unmatched > 0)
    throw std::runtime_error("element run " + std::to_string(width) + "x" + std::to_string(height) +
                             " " + mode + ": " + std::to_string(r.frames_out) + " frames out (" +
                             std::to_string(log.unmatched) + " unmatched) for " +
                             std::to_string(o.frames) + " in");
  const double total_ms =
      std::chrono::duration<double, std::milli>(log.last_out - log.first_in).count();
  r.fps = total_ms > 0 ? 1000.0 * r.frames_out / total_ms : 0.0;
  r.cpu_ms_per_frame = r.frames_out > 0 ? (cpu_end - cpu_start) / r.frames_out : 0.0;
  r.first_frame_ms = log.latency_ms.empty() ? 0.0 : log.latency_ms.front();
  const size_t skip = std::min(static_cast<size_t>(std::max(0, o.skip)), log.latency_ms.size() / 2);
  r.latency = summarize(
      std::vector<double>(log.latency_ms.begin() + static_cast<long>(skip), log.latency_ms.end()));
  r.load_average = load_average();
  r.rss_kib_after = rss_kib();
  return r;
}

ElementParts run_element_parts(const std::string& format_name, int width, int height,
                               const ModelInfo& model, int inference, int runs, int warmup) {
  const GstVideoFormat format = parse_format(format_name);
  ElementParts p;
  p.width = width;
  p.height = height;
  model.inference_size(inference, width, height, &p.inference_width, &p.inference_height);
  std::vector<GstBuffer*> frames = make_frames(format, width, height);
  const GstVideoInfo in = video_info(format, width, height);
  const GstVideoInfo rgb = video_info(GST_VIDEO_FORMAT_RGB, p.inference_width, p.inference_height);
  const GstVideoInfo rgba = video_info(GST_VIDEO_FORMAT_RGBA, width, height);
  GstBuffer* rgb_buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&rgb), nullptr);
  GstBuffer* out_buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&rgba), nullptr);
  const bool alpha_input = GST_VIDEO_FORMAT_INFO_HAS_ALPHA(gst_video_format_get_info(format));
  int k = 0;
  auto convert = [&](const Converter& c, const GstVideoInfo& out_info, GstBuffer* out) {
    const MappedFrame i(in, frames[static_cast<size_t>(k++) % frames.size()], GST_MAP_READ);
    MappedFrame o(out_info, out, GST_MAP_WRITE);
    gst_video_converter_frame(c.c, &i.f, &o.f);
  };
  try {
    {
      const Converter c1(in, rgb, true, 1), c2(in, rgb, true, 2);
      p.to_rgb = time_runs(warmup, runs, [&] { convert(c1, rgb, rgb_buf); });
      p.to_rgb_threads = time_runs(warmup, runs, [&] { convert(c2, rgb, rgb_buf); });
    }
    if (!alpha_input) {
      const Converter c1(in, rgba, false, 1), c2(in, rgba, false, 2);
      p.to_out = time_runs(warmup, runs, [&] { convert(c1, rgba, out_buf); });
      p.to_out_threads = time_runs(warmup, runs, [&] { convert(c2, rgba, out_buf); });
    }
    MaskUpscaler up;
    up.configure(p.inference_width, p.inference_height, width, height);
    std::vector<float> mask(static_cast<size_t>(p.inference_width) * p.inference_height);
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = static_cast<float>(i % 97) / 96.f;
    p.upscale = time_runs(warmup, runs, [&] {
      MappedFrame o(rgba, out_buf, GST_MAP_WRITE);
      up.run(mask.data(), static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&o.f, 0)) + 3, 4,
             GST_VIDEO_FRAME_PLANE_STRIDE(&o.f, 0), 0);
    });
  } catch (...) {
    gst_buffer_unref(rgb_buf);
    gst_buffer_unref(out_buf);
    unref_all(frames);
    throw;
  }
  gst_buffer_unref(rgb_buf);
  gst_buffer_unref(out_buf);
  unref_all(frames);
  return p;
}

}  // namespace cosal::bench
