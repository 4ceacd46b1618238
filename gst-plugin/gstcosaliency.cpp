// The cosaliency element. GStreamer-side plumbing only: caps, conversion,
// buffering, events, QoS, latency. The network is behind model/engine.h and
// how frames form the group (window, re-seeds, smoothing, scene cuts) behind
// model/stream_processor.h, the code the tools and validation run too.
#include "gstcosaliency.h"

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cosalmeta.h"
#include "engine.h"
#include "guided_upsampler.h"
#include "mask_upscaler.h"
#include "processing_time.h"
#include "stream_processor.h"

GST_DEBUG_CATEGORY_STATIC(gst_cosaliency_debug);
#define GST_CAT_DEFAULT gst_cosaliency_debug

namespace {

constexpr int kDefaultWindowSize = 8;
// -1: every frame in window mode (each frame against exactly its window),
// every window-size frames in streaming mode.
constexpr int kDefaultRefreshInterval = -1;
constexpr const char* kDefaultDevice = "auto";

#define COSAL_SINK_FORMATS "{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, ARGB, ABGR, I420, NV12 }"
#define COSAL_ALPHA_FORMATS "{ RGBA, BGRA, ARGB, ABGR }"

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(COSAL_SINK_FORMATS)));

// alpha: RGBA-family, mask: GRAY8, meta: the input caps.
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(
        "{ RGBA, BGRA, ARGB, ABGR, GRAY8, RGB, BGR, RGBx, BGRx, I420, NV12 }")));

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_MODE,
  PROP_OUTPUT,
  PROP_WINDOW_SIZE,
  PROP_REFRESH_INTERVAL,
  PROP_THRESHOLD,
  PROP_SMOOTHING,
  PROP_INFERENCE_SIZE,
  PROP_THREADS,
  PROP_SCENE_CUT_THRESHOLD,
  PROP_EDGE_REFINE,
  PROP_EDGE_RADIUS,
  PROP_STATS,
};

// Property values; guarded by Impl::mutex.
struct Settings {
  std::string model;
  std::string device = kDefaultDevice;
  GstCosaliencyMode mode = GST_COSALIENCY_MODE_STREAMING;
  GstCosaliencyOutput output = GST_COSALIENCY_OUTPUT_ALPHA;
  int window_size = kDefaultWindowSize;
  int refresh_interval = kDefaultRefreshInterval;
  int threshold = 0;
  double smoothing = 0.0;
  int inference_size = 0;
  int threads = 0;
  double scene_cut_threshold = 0.0;
  GstCosaliencyEdgeRefine edge_refine = GST_COSALIENCY_EDGE_REFINE_NONE;
  int edge_radius = cosal::GuidedUpsampler::kDefaultRadius;
};

struct Stats {
  std::atomic<guint64> frames_in{0};
  std::atomic<guint64> frames_out{0};
  std::atomic<guint64> qos_dropped{0};
  std::atomic<guint64> invalid_dropped{0};  // buffers smaller than their caps
  std::atomic<guint64> inference_ns{0};     // total, for the mean
  std::atomic<guint64> inferences{0};

  void clear() {
    frames_in = frames_out = qos_dropped = invalid_dropped = 0;
    inference_ns = inferences = 0;
  }
};

// Everything the streaming thread owns between caps events.
struct Stream {
  bool configured = false;
  int default_threads = 1;  // threads=0's count, read at each caps
  // The CPU threads the `threads` property asks for (0: the default).
  int threads_for(int property) const { return property > 0 ? property : default_threads; }
  GstCosaliencyOutput output = GST_COSALIENCY_OUTPUT_ALPHA;
  GstVideoInfo in_info{};
  GstVideoInfo out_info{};
  GstVideoInfo rgb_info{};  // packed RGB at the inference size
  GstVideoConverter* to_rgb = nullptr;
  GstVideoConverter* to_out = nullptr;  // alpha output in another format than the input
  GstBuffer* rgb = nullptr;             // reused conversion target
  GstBufferPool* mask_pool = nullptr;   // masks attached as GstCosalMaskMeta
  guint mask_stride = 0;
  cosal::StreamProcessor processor;  // one mask per held frame, in order
  std::deque<GstBuffer*> held;       // inputs awaiting their mask, oldest first
  std::deque<GstBuffer*> finished;   // outputs ready to push
  std::vector<float> mask;           // decoder output at the inference size
  cosal::MaskUpscaler upscaler;
  cosal::GuidedUpsampler guided;  // edge-refine=guided
  std::vector<uint8_t> luma;      // the guide of RGB-family frames
  // A flow error from pushing drained frames in an event handler, returned
  // to upstream by the next buffer (an event handler cannot return a flow).
  GstFlowReturn deferred_flow = GST_FLOW_OK;
  gint64 last_emit_ns = 0;  // decode + render time of the latest output frame

  void clear_buffers() {
    for (GstBuffer* b : held) gst_buffer_unref(b);
    held.clear();
    for (GstBuffer* b : finished) gst_buffer_unref(b);
    finished.clear();
  }
  // Conversion state of the current caps (held frames are kept).
  void release_converters() {
    if (to_rgb) gst_video_converter_free(to_rgb);
    if (to_out) gst_video_converter_free(to_out);
    to_rgb = to_out = nullptr;
    if (rgb) gst_buffer_unref(rgb);
    rgb = nullptr;
    if (mask_pool) {
      gst_buffer_pool_set_active(mask_pool, FALSE);
      gst_object_unref(mask_pool);
    }
    mask_pool = nullptr;
    configured = false;
  }
  void release() {
    clear_buffers();
    release_converters();
  }
};

struct Impl {
  // Guards `settings` and `stream.held`, which the application's thread
  // (properties, stats) and the streaming thread share. A std::mutex rather
  // than the object lock: GLib's futex-based GMutex is invisible to
  // ThreadSanitizer, which checks this element.
  std::mutex mutex;
  Settings settings;
  std::shared_ptr<const cosal::Model> model;
  Stream stream;
  Stats stats;
  // Per-frame processing time; written by the streaming thread, read by
  // LATENCY queries from any thread (its members are atomics).
  cosal::ProcessingTime processing;
};

}  // namespace

struct _GstCosaliency {
  GstVideoFilter parent;
  Impl* impl;
};

G_DEFINE_TYPE(GstCosaliency, gst_cosaliency, GST_TYPE_VIDEO_FILTER)

#define parent_class gst_cosaliency_parent_class

GType gst_cosaliency_mode_get_type(void) {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {GST_COSALIENCY_MODE_STREAMING,
         "Each frame updates the persistent group feature G once and is decoded at once "
         "(no added latency)",
         "streaming"},
        {GST_COSALIENCY_MODE_WINDOW,
         "Each frame is decoded against the group of its centred window (adds window-size/2 "
         "frames of latency)",
         "window"},
        {0, nullptr, nullptr}};
    g_once_init_leave(&type, g_enum_register_static("GstCosaliencyMode", values));
  }
  return type;
}

GType gst_cosaliency_output_get_type(void) {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {GST_COSALIENCY_OUTPUT_ALPHA, "The frame with the mask in its alpha channel", "alpha"},
        {GST_COSALIENCY_OUTPUT_MASK, "The mask alone, GRAY8 at the input resolution", "mask"},
        {GST_COSALIENCY_OUTPUT_META,
         "The input untouched, the mask attached as GstCosalMaskMeta (cosalmeta.h)", "meta"},
        {0, nullptr, nullptr}};
    g_once_init_leave(&type, g_enum_register_static("GstCosaliencyOutput", values));
  }
  return type;
}

GType gst_cosaliency_edge_refine_get_type(void) {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {GST_COSALIENCY_EDGE_REFINE_NONE, "Bilinear upsampling of the mask", "none"},
        {GST_COSALIENCY_EDGE_REFINE_GUIDED,
         "Fast guided filter with the frame's luma as the guide: mask edges follow the "
         "frame's edges",
         "guided"},
        {0, nullptr, nullptr}};
    g_once_init_leave(&type, g_enum_register_static("GstCosaliencyEdgeRefine", values));
  }
  return type;
}

namespace {

Impl& impl_of(gpointer self) { return *GST_COSALIENCY(self)->impl; }

// The per-frame properties, without the strings: read on every frame, so no
// allocation.
struct LiveSettings {
  int refresh_interval, threshold, threads;
  double smoothing, scene_cut_threshold;
  GstCosaliencyEdgeRefine edge_refine;
  int edge_radius;
};

LiveSettings live_settings_of(GstCosaliency* self) {
  self->impl->mutex.lock();
  const Settings& s = self->impl->settings;
  LiveSettings l{s.refresh_interval,    s.threshold,   s.threads,    s.smoothing,
                 s.scene_cut_threshold, s.edge_refine, s.edge_radius};
  self->impl->mutex.unlock();
  return l;
}

Settings settings_of(GstCosaliency* self) {
  self->impl->mutex.lock();
  Settings s = self->impl->settings;
  self->impl->mutex.unlock();
  return s;
}

// The alpha format that keeps the input's channel order.
GstVideoFormat alpha_format_for(GstVideoFormat in) {
  switch (in) {
    case GST_VIDEO_FORMAT_BGR:
    case GST_VIDEO_FORMAT_BGRA:
    case GST_VIDEO_FORMAT_BGRx:
      return GST_VIDEO_FORMAT_BGRA;
    case GST_VIDEO_FORMAT_ARGB:
      return GST_VIDEO_FORMAT_ARGB;
    case GST_VIDEO_FORMAT_ABGR:
      return GST_VIDEO_FORMAT_ABGR;
    default:
      return GST_VIDEO_FORMAT_RGBA;
  }
}

GValue format_list(std::initializer_list<const char*> formats) {
  GValue list = G_VALUE_INIT;
  g_value_init(&list, GST_TYPE_LIST);
  for (const char* f : formats) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, f);
    gst_value_list_append_and_take_value(&list, &v);
  }
  return list;
}

// Sink caps -> src caps and back, per output mode. Size, framerate and
// pixel-aspect-ratio always pass unchanged; only the format changes.
GstCaps* cosaliency_transform_caps(GstBaseTransform* trans, GstPadDirection direction,
                                   GstCaps* caps, GstCaps* filter) {
  auto* self = GST_COSALIENCY(trans);
  const GstCosaliencyOutput output = settings_of(self).output;
  GstCaps* result = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); ++i) {
    GstStructure* s = gst_structure_copy(gst_caps_get_structure(caps, i));
    GstCapsFeatures* f = gst_caps_features_copy(gst_caps_get_features(caps, i));
    if (output != GST_COSALIENCY_OUTPUT_META) {
      if (direction == GST_PAD_SINK) {
        if (output == GST_COSALIENCY_OUTPUT_MASK) {
          gst_structure_set(s, "format", G_TYPE_STRING, "GRAY8", nullptr);
        } else {
          // Preferred alpha format first: the one keeping the channel order.
          const gchar* in = gst_structure_get_string(s, "format");
          GstVideoFormat pref =
              alpha_format_for(in ? gst_video_format_from_string(in) : GST_VIDEO_FORMAT_RGBA);
          const char* p = gst_video_format_to_string(pref);
          std::vector<const char*> order{p};
          for (const char* a : {"RGBA", "BGRA", "ARGB", "ABGR"})
            if (g_strcmp0(a, p) != 0) order.push_back(a);
          GValue list = format_list({order[0], order[1], order[2], order[3]});
          gst_structure_take_value(s, "format", &list);
        }
      } else {
        // Only caps this mode can produce map back to input caps.
        GstStructure* valid = gst_structure_new_empty("video/x-raw");
        GValue outs = output == GST_COSALIENCY_OUTPUT_MASK
                          ? format_list({"GRAY8"})
                          : format_list({"RGBA", "BGRA", "ARGB", "ABGR"});
        gst_structure_take_value(valid, "format", &outs);
        const bool ok = gst_structure_can_intersect(s, valid);
        gst_structure_free(valid);
        if (!ok) {
          gst_structure_free(s);
          gst_caps_features_free(f);
          continue;
        }
        GValue list = format_list(
            {"RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "ARGB", "ABGR", "I420", "NV12"});
        gst_structure_take_value(s, "format", &list);
      }
      gst_structure_remove_fields(s, "colorimetry", "chroma-site", nullptr);
    }
    result = gst_caps_merge_structure_full(result, s, f);
  }
  if (filter) {
    GstCaps* tmp = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = tmp;
  }
  GST_DEBUG_OBJECT(trans, "transformed %" GST_PTR_FORMAT " to %" GST_PTR_FORMAT, caps, result);
  return result;
}

// Prefers, for alpha output, the alpha format with the input's channel order
// (RGBA in -> RGBA out lets the element write the alpha in place).
GstCaps* cosaliency_fixate_caps(GstBaseTransform* trans, GstPadDirection direction, GstCaps* caps,
                                GstCaps* othercaps) {
  othercaps = gst_caps_make_writable(othercaps);
  if (direction == GST_PAD_SINK && gst_caps_is_fixed(caps)) {
    const gchar* in = gst_structure_get_string(gst_caps_get_structure(caps, 0), "format");
    if (in && settings_of(GST_COSALIENCY(trans)).output == GST_COSALIENCY_OUTPUT_ALPHA) {
      const char* pref =
          gst_video_format_to_string(alpha_format_for(gst_video_format_from_string(in)));
      GstCaps* want = gst_caps_copy(othercaps);
      for (guint i = 0; i < gst_caps_get_size(want); ++i)
        gst_structure_set(gst_caps_get_structure(want, i), "format", G_TYPE_STRING, pref, nullptr);
      GstCaps* both = gst_caps_intersect(othercaps, want);
      gst_caps_unref(want);
      if (!gst_caps_is_empty(both)) {
        gst_caps_unref(othercaps);
        othercaps = both;
      } else {
        gst_caps_unref(both);
      }
    }
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->fixate_caps(trans, direction, caps, othercaps);
}

// Starts a new group. Frames still pending are completed with the old group
// first; their masks wait in the processor for the held buffers.
void reset_group(GstCosaliency* self, const char* why) {
  Impl& impl = *self->impl;
  if (impl.model && impl.stream.processor.new_group(*impl.model))
    GST_DEBUG_OBJECT(self, "new group: %s", why);
}

// Callable from any thread: the counters are atomics (Stats, the stream
// processor's) and `held` is read under the mutex it is changed under.
GstStructure* stats_structure(GstCosaliency* self) {
  Stats& s = self->impl->stats;
  const cosal::StreamProcessor& p = self->impl->stream.processor;
  const guint64 n = s.inferences.load();
  const double mean_ms = n ? s.inference_ns.load() / 1e6 / static_cast<double>(n) : 0.0;
  self->impl->mutex.lock();
  const guint64 held = self->impl->stream.held.size();
  self->impl->mutex.unlock();
  return gst_structure_new("application/x-cosaliency-stats", "frames-in", G_TYPE_UINT64,
                           s.frames_in.load(), "frames-out", G_TYPE_UINT64, s.frames_out.load(),
                           "qos-dropped", G_TYPE_UINT64, s.qos_dropped.load(), "invalid-dropped",
                           G_TYPE_UINT64, s.invalid_dropped.load(), "group-resets", G_TYPE_UINT64,
                           static_cast<guint64>(p.group_resets()), "scene-cuts", G_TYPE_UINT64,
                           static_cast<guint64>(p.scene_cuts()), "seeds", G_TYPE_UINT64,
                           static_cast<guint64>(p.seeds()), "rcau-updates", G_TYPE_UINT64,
                           static_cast<guint64>(p.updates()), "mean-inference-ms", G_TYPE_DOUBLE,
                           mean_ms, "held", G_TYPE_UINT64, held, nullptr);
}

void log_stats(GstCosaliency* self) {
  GstStructure* s = stats_structure(self);
  gchar* str = gst_structure_to_string(s);
  GST_INFO_OBJECT(self, "stats: %s", str);
  g_free(str);
  gst_structure_free(s);
}

// ---- state changes: the model lives from NULL->READY to READY->NULL ----

bool load_model(GstCosaliency* self) {
  const Settings s = settings_of(self);
  const std::string path = s.model.empty() ? cosal::Model::default_path() : s.model;
  if (g_str_has_prefix(s.device.c_str(), "cuda") && !cosal::cuda_available()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("device \"%s\" requested but CUDA is not available", s.device.c_str()),
                      ("this build of LibTorch or this machine has no usable CUDA device; use "
                       "device=cpu or device=auto"));
    return false;
  }
  try {
    std::string warning;
    auto model = cosal::Model::acquire(path, s.device, &warning);
    if (!warning.empty())
      GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS, ("%s", warning.c_str()),
                          ("device=%s, running on %s", s.device.c_str(), model->device().c_str()));
    const cosal::ModelInfo& info = model->info();
    if (info.input_width <= 0 || info.input_height <= 0) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                        ("model \"%s\" declares no input size", path.c_str()), (nullptr));
      return false;
    }
    GST_INFO_OBJECT(self, "model %s: %s/%s %dx%d on %s", path.c_str(), info.backbone.c_str(),
                    info.variant.c_str(), info.input_width, info.input_height,
                    model->device().c_str());
    self->impl->model = std::move(model);
    return true;
  } catch (const std::exception& e) {
    if (!g_file_test(path.c_str(), G_FILE_TEST_EXISTS))
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("%s", e.what()),
                        ("model file \"%s\" does not exist (set the model property or "
                         "$COSAL_MODEL)",
                         path.c_str()));
    else
      GST_ELEMENT_ERROR(
          self, RESOURCE, SETTINGS, ("%s", e.what()),
          ("could not load model \"%s\" on device \"%s\"", path.c_str(), s.device.c_str()));
    return false;
  }
}

GstStateChangeReturn cosaliency_change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_COSALIENCY(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !load_model(self))
    return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) self->impl->model.reset();
  return ret;
}

gboolean cosaliency_start(GstBaseTransform* trans) {
  Impl& impl = impl_of(trans);
  impl.stats.clear();
  impl.stream.processor.clear_counters();
  impl.processing.clear();
  impl.stream.deferred_flow = GST_FLOW_OK;
  impl.stream.last_emit_ns = 0;
  return TRUE;
}

gboolean cosaliency_stop(GstBaseTransform* trans) {
  auto* self = GST_COSALIENCY(trans);
  log_stats(self);
  self->impl->mutex.lock();
  self->impl->stream.clear_buffers();
  self->impl->mutex.unlock();
  // Not release(): its clear_buffers() would write `held` again outside the
  // lock that the stats property reads it under.
  self->impl->stream.release_converters();
  self->impl->stream.processor.clear();
  return TRUE;
}

// ---- caps ----

gboolean cosaliency_set_caps(GstBaseTransform* trans, GstCaps* incaps, GstCaps* outcaps) {
  auto* self = GST_COSALIENCY(trans);
  if (!GST_BASE_TRANSFORM_CLASS(parent_class)->set_caps(trans, incaps, outcaps)) return FALSE;
  Impl& impl = *self->impl;
  if (!impl.model) return FALSE;
  GstVideoFilter* vf = GST_VIDEO_FILTER(trans);
  const Settings s = settings_of(self);
  Stream& st = impl.stream;
  const GstVideoInfo& in = vf->in_info;
  const GstVideoInfo& out = vf->out_info;
  if (GST_VIDEO_INFO_WIDTH(&in) != GST_VIDEO_INFO_WIDTH(&out) ||
      GST_VIDEO_INFO_HEIGHT(&in) != GST_VIDEO_INFO_HEIGHT(&out))
    return FALSE;

  // A new input format or size starts a new group (frames held under the old
  // caps were emitted by the CAPS event handler). A downstream-only
  // renegotiation (another alpha format) keeps the group and held frames.
  const bool new_input = !st.configured || !gst_video_info_is_equal(&st.in_info, &in);
  st.release_converters();
  if (new_input) {
    cosal::StreamOptions o;
    o.mode = s.mode == GST_COSALIENCY_MODE_WINDOW ? cosal::StreamOptions::Mode::kWindow
                                                  : cosal::StreamOptions::Mode::kStreaming;
    o.window_size = s.window_size;
    o.refresh_interval = s.refresh_interval;
    o.smoothing = s.smoothing;
    o.scene_cut_threshold = s.scene_cut_threshold;
    // Held frames were emitted by the CAPS event handler: nothing is lost.
    st.processor.configure(o);
  }
  st.output = s.output;
  st.default_threads = cosal::default_cpu_threads();
  st.in_info = in;
  st.out_info = out;

  int iw = 0, ih = 0;
  impl.model->info().inference_size(s.inference_size, GST_VIDEO_INFO_WIDTH(&in),
                                    GST_VIDEO_INFO_HEIGHT(&in), &iw, &ih);
  gst_video_info_set_format(&st.rgb_info, GST_VIDEO_FORMAT_RGB, static_cast<guint>(iw),
                            static_cast<guint>(ih));
  // GstVideoConverter converts pixels only: the rates must match.
  GST_VIDEO_INFO_FPS_N(&st.rgb_info) = GST_VIDEO_INFO_FPS_N(&in);
  GST_VIDEO_INFO_FPS_D(&st.rgb_info) = GST_VIDEO_INFO_FPS_D(&in);
  GST_VIDEO_INFO_INTERLACE_MODE(&st.rgb_info) = GST_VIDEO_INFO_INTERLACE_MODE(&in);
  // One pass from any input format and size to the network's RGB input.
  // 8 resampler taps: when downscaling, the linear resampler otherwise widens
  // its filter to 2x the scale (~17 taps at 1080p) and leaves GStreamer's fast
  // path; cosal-bench measured 9.1 -> 3.7 ms at 1080p, 40.5 dB PSNR to before.
  // Both conversions split their lines over the stream's CPU threads, as the
  // network does: they run on the streaming thread, between its frames.
  const guint converter_threads = static_cast<guint>(st.threads_for(s.threads));
  GstStructure* opts = gst_structure_new(
      "options", GST_VIDEO_CONVERTER_OPT_RESAMPLER_METHOD, GST_TYPE_VIDEO_RESAMPLER_METHOD,
      GST_VIDEO_RESAMPLER_METHOD_LINEAR, GST_VIDEO_CONVERTER_OPT_RESAMPLER_TAPS, G_TYPE_UINT, 8,
      GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE,
      GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, converter_threads, nullptr);
  st.to_rgb = gst_video_converter_new(const_cast<GstVideoInfo*>(&in), &st.rgb_info, opts);
  st.rgb = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&st.rgb_info), nullptr);
  if (s.output == GST_COSALIENCY_OUTPUT_ALPHA &&
      GST_VIDEO_INFO_FORMAT(&in) != GST_VIDEO_INFO_FORMAT(&out)) {
    GstStructure* o =
        gst_structure_new("options", GST_VIDEO_CONVERTER_OPT_DITHER_METHOD,
                          GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE,
                          GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, converter_threads, nullptr);
    st.to_out =
        gst_video_converter_new(const_cast<GstVideoInfo*>(&in), const_cast<GstVideoInfo*>(&out), o);
  }
  if (!st.to_rgb || !st.rgb ||
      (s.output == GST_COSALIENCY_OUTPUT_ALPHA && !st.to_out &&
       GST_VIDEO_INFO_FORMAT(&in) != GST_VIDEO_INFO_FORMAT(&out))) {
    GST_ERROR_OBJECT(self, "cannot convert %" GST_PTR_FORMAT, incaps);
    st.release_converters();
    return FALSE;
  }
  if (s.output == GST_COSALIENCY_OUTPUT_META) {
    st.mask_stride = GST_ROUND_UP_4(GST_VIDEO_INFO_WIDTH(&in));
    st.mask_pool = gst_buffer_pool_new();
    GstStructure* config = gst_buffer_pool_get_config(st.mask_pool);
    gst_buffer_pool_config_set_params(config, nullptr, st.mask_stride * GST_VIDEO_INFO_HEIGHT(&in),
                                      2, 0);
    if (!gst_buffer_pool_set_config(st.mask_pool, config) ||
        !gst_buffer_pool_set_active(st.mask_pool, TRUE)) {
      st.release_converters();
      return FALSE;
    }
  }
  st.mask.assign(static_cast<size_t>(iw) * ih, 0.f);
  st.upscaler.configure(iw, ih, GST_VIDEO_INFO_WIDTH(&in), GST_VIDEO_INFO_HEIGHT(&in));

  // alpha with an alpha input format: write the alpha bytes in place.
  // meta: the input is pushed on (made writable only for the meta).
  gst_base_transform_set_passthrough(trans, s.output == GST_COSALIENCY_OUTPUT_META);
  gst_base_transform_set_in_place(trans, s.output == GST_COSALIENCY_OUTPUT_ALPHA && !st.to_out);
  st.configured = true;
  GST_INFO_OBJECT(self, "%dx%d %s -> %s, inference at %dx%d, %s mode", GST_VIDEO_INFO_WIDTH(&in),
                  GST_VIDEO_INFO_HEIGHT(&in), GST_VIDEO_INFO_NAME(&in), GST_VIDEO_INFO_NAME(&out),
                  iw, ih, s.mode == GST_COSALIENCY_MODE_WINDOW ? "window" : "streaming");
  return TRUE;
}

// ---- per-frame work ----

GstClockTime frame_duration(const GstVideoInfo& info) {
  if (GST_VIDEO_INFO_FPS_N(&info) <= 0 || GST_VIDEO_INFO_FPS_D(&info) <= 0)
    return GST_CLOCK_TIME_NONE;
  return gst_util_uint64_scale_int(GST_SECOND, GST_VIDEO_INFO_FPS_D(&info),
                                   GST_VIDEO_INFO_FPS_N(&info));
}

// The luma of `f` as the guided filter's guide: the Y plane of YUV formats as
// it is, BT.601 luma computed into `scratch` for the RGB family.
cosal::LumaView luma_of(const GstVideoFrame& f, std::vector<uint8_t>& scratch) {
  const int w = GST_VIDEO_FRAME_WIDTH(&f), h = GST_VIDEO_FRAME_HEIGHT(&f);
  if (GST_VIDEO_INFO_IS_YUV(&f.info))
    return {static_cast<const uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&f, GST_VIDEO_COMP_Y)), w, h,
            GST_VIDEO_FRAME_COMP_STRIDE(&f, GST_VIDEO_COMP_Y)};
  // Sized at the first guided frame, not at negotiation: off, it costs nothing.
  if (scratch.size() < static_cast<size_t>(w) * h) scratch.resize(static_cast<size_t>(w) * h);
  const auto* base = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
  const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&f, GST_VIDEO_COMP_R);
  const int r = GST_VIDEO_FRAME_COMP_POFFSET(&f, GST_VIDEO_COMP_R);
  const int g = GST_VIDEO_FRAME_COMP_POFFSET(&f, GST_VIDEO_COMP_G);
  const int b = GST_VIDEO_FRAME_COMP_POFFSET(&f, GST_VIDEO_COMP_B);
  for (int y = 0; y < h; ++y) {
    const uint8_t* s = base + static_cast<ptrdiff_t>(y) * stride;
    uint8_t* d = scratch.data() + static_cast<size_t>(y) * w;
    for (int x = 0; x < w; ++x, s += ps)
      d[x] = static_cast<uint8_t>((77 * s[r] + 150 * s[g] + 29 * s[b] + 128) >> 8);
  }
  return {scratch.data(), w, h, w};
}

// Resamples the mask to the frame size into dst (MaskUpscaler::run's
// layout): bilinearly, or guided by the luma of `guide` when edge-refine asks.
void write_mask(Stream& st, const LiveSettings& s, const GstVideoFrame* guide, uint8_t* dst,
                int pixel_stride, int row_stride) {
  if (s.edge_refine != GST_COSALIENCY_EDGE_REFINE_GUIDED || !guide) {
    st.upscaler.run(st.mask.data(), dst, pixel_stride, row_stride, s.threshold);
    return;
  }
  // Limited-range luma spans 219 of 255 levels: eps scaled by the same
  // contrast so a YUV and an RGB source of one picture are filtered alike.
  float eps = cosal::GuidedUpsampler::kDefaultEps;
  if (GST_VIDEO_INFO_IS_YUV(&guide->info) &&
      GST_VIDEO_INFO_COLORIMETRY(&guide->info).range != GST_VIDEO_COLOR_RANGE_0_255)
    eps *= (219.f / 255.f) * (219.f / 255.f);
  st.guided.set_params(s.edge_radius, eps);
  // A no-op but for the first guided frame at a size (allocates only then).
  st.guided.configure(GST_VIDEO_INFO_WIDTH(&st.rgb_info), GST_VIDEO_INFO_HEIGHT(&st.rgb_info),
                      GST_VIDEO_FRAME_WIDTH(guide), GST_VIDEO_FRAME_HEIGHT(guide));
  st.guided.run(st.mask.data(), luma_of(*guide, st.luma), dst, pixel_stride, row_stride,
                s.threshold);
}

// Writes the mask of `in` into the output buffer the mode asks for. Takes
// ownership of `in`.
GstFlowReturn render(GstCosaliency* self, GstBuffer* in, GstBuffer** out, const LiveSettings& s) {
  GstBaseTransform* trans = GST_BASE_TRANSFORM(self);
  Stream& st = self->impl->stream;
  const bool guided = s.edge_refine == GST_COSALIENCY_EDGE_REFINE_GUIDED;
  *out = nullptr;
  GstVideoFrame inf;

  if (st.output == GST_COSALIENCY_OUTPUT_META) {
    GstBuffer* m = nullptr;
    GstFlowReturn r = gst_buffer_pool_acquire_buffer(st.mask_pool, &m, nullptr);
    if (r != GST_FLOW_OK) {
      gst_buffer_unref(in);
      return r;
    }
    GstMapInfo map;
    if (!gst_buffer_map(m, &map, GST_MAP_WRITE)) {
      gst_buffer_unref(m);
      gst_buffer_unref(in);
      return GST_FLOW_ERROR;
    }
    const bool guide = guided && gst_video_frame_map(&inf, &st.in_info, in, GST_MAP_READ);
    write_mask(st, s, guide ? &inf : nullptr, map.data, 1, static_cast<int>(st.mask_stride));
    if (guide) gst_video_frame_unmap(&inf);
    gst_buffer_unmap(m, &map);
    GstBuffer* o = gst_buffer_make_writable(in);
    const GstCosalMaskMeta* meta =
        gst_buffer_add_cosal_mask_meta(o, m, GST_VIDEO_INFO_WIDTH(&st.in_info),
                                       GST_VIDEO_INFO_HEIGHT(&st.in_info), st.mask_stride);
    gst_buffer_unref(m);  // the meta holds it until the frame is freed
    if (!meta) {
      gst_buffer_unref(o);
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("could not attach the mask meta"),
                        ("mask buffer of the pool smaller than %u x %d", st.mask_stride,
                         GST_VIDEO_INFO_HEIGHT(&st.in_info)));
      return GST_FLOW_ERROR;
    }
    *out = o;
    return GST_FLOW_OK;
  }

  GstBuffer* o = nullptr;
  GstFlowReturn r = GST_BASE_TRANSFORM_CLASS(parent_class)->prepare_output_buffer(trans, in, &o);
  if (r != GST_FLOW_OK || !o) {
    gst_buffer_unref(in);
    return r != GST_FLOW_OK ? r : GST_FLOW_ERROR;
  }
  GstVideoFrame of;
  if (!gst_video_frame_map(&of, &st.out_info, o, GST_MAP_READWRITE)) {
    if (o != in) gst_buffer_unref(o);
    gst_buffer_unref(in);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("could not map the output frame"), (nullptr));
    return GST_FLOW_ERROR;
  }
  // The input is read for a conversion to the output format, or as the
  // guide unless it is the output itself (in place: its colour bytes are
  // the input's).
  const bool map_in = o != in && (st.to_out || guided);
  if (map_in && !gst_video_frame_map(&inf, &st.in_info, in, GST_MAP_READ)) {
    gst_video_frame_unmap(&of);
    gst_buffer_unref(o);
    gst_buffer_unref(in);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("could not map the input frame"), (nullptr));
    return GST_FLOW_ERROR;
  }
  const GstVideoFrame* guide = map_in ? &inf : &of;
  if (st.output == GST_COSALIENCY_OUTPUT_MASK) {
    write_mask(st, s, guide, static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&of, 0)), 1,
               GST_VIDEO_FRAME_PLANE_STRIDE(&of, 0));
  } else {
    if (st.to_out) gst_video_converter_frame(st.to_out, &inf, &of);
    uint8_t* base = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&of, 0)) +
                    GST_VIDEO_FRAME_COMP_POFFSET(&of, GST_VIDEO_COMP_A);
    write_mask(st, s, guide, base, GST_VIDEO_FRAME_COMP_PSTRIDE(&of, GST_VIDEO_COMP_A),
               GST_VIDEO_FRAME_PLANE_STRIDE(&of, 0));
  }
  if (map_in) gst_video_frame_unmap(&inf);
  gst_video_frame_unmap(&of);
  if (o != in) gst_buffer_unref(in);
  *out = o;
  return GST_FLOW_OK;
}

// Decodes the oldest held frame and renders its output.
GstFlowReturn emit_one(GstCosaliency* self, GstBuffer** out) {
  Impl& impl = *self->impl;
  Stream& st = impl.stream;
  const LiveSettings s = live_settings_of(self);
  const auto t0 = std::chrono::steady_clock::now();
  self->impl->mutex.lock();
  GstBuffer* in = st.held.front();
  st.held.pop_front();
  self->impl->mutex.unlock();
  try {
    st.processor.pop(*impl.model, st.mask.data());
  } catch (const std::exception& e) {
    gst_buffer_unref(in);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("co-saliency decoding failed: %s", e.what()),
                      (nullptr));
    return GST_FLOW_ERROR;
  }
  GstFlowReturn r = render(self, in, out, s);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  impl.stats.inference_ns += static_cast<guint64>(ns);
  st.last_emit_ns = ns;
  if (r == GST_FLOW_OK) impl.stats.frames_out++;
  return r;
}

// Emits every held frame with the group it has (end of stream or group).
GstFlowReturn drain(GstCosaliency* self) {
  Impl& impl = *self->impl;
  Stream& st = impl.stream;
  try {
    st.processor.drain(*impl.model);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("co-saliency decoding failed: %s", e.what()),
                      (nullptr));
    return GST_FLOW_ERROR;
  }
  while (st.processor.ready() && !st.held.empty()) {
    GstBuffer* out = nullptr;
    GstFlowReturn r = emit_one(self, &out);
    if (r != GST_FLOW_OK) return r;
    st.finished.push_back(out);
  }
  return GST_FLOW_OK;
}

// Pushes what drain() produced (from an event handler, in the streaming thread).
GstFlowReturn push_finished(GstCosaliency* self) {
  Stream& st = self->impl->stream;
  GstFlowReturn ret = GST_FLOW_OK;
  while (!st.finished.empty()) {
    GstBuffer* b = st.finished.front();
    st.finished.pop_front();
    if (ret == GST_FLOW_OK)
      ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), b);
    else
      gst_buffer_unref(b);
  }
  return ret;
}

// Drains, then pushes what came out, from an event handler (streaming
// thread). A flow error is kept for the next buffer to return upstream, and
// a fatal one is posted as an error now, as GstBaseTransform's chain would.
void drain_and_push(GstCosaliency* self, const char* why) {
  Stream& st = self->impl->stream;
  GstFlowReturn r = drain(self);
  const GstFlowReturn pushed = push_finished(self);
  if (r == GST_FLOW_OK) r = pushed;
  if (r == GST_FLOW_OK) return;
  GST_DEBUG_OBJECT(self, "pushing the frames held before %s: %s", why, gst_flow_get_name(r));
  if (st.deferred_flow == GST_FLOW_OK) st.deferred_flow = r;
  if (r == GST_FLOW_NOT_LINKED || r <= GST_FLOW_NOT_NEGOTIATED) GST_ELEMENT_FLOW_ERROR(self, r);
}

// The frame's cost: its encode plus the latest decode-and-render (one frame
// in, one out in the steady state of both modes).
void note_processing_time(GstCosaliency* self, gint64 encode_ns) {
  Impl& impl = *self->impl;
  // Let a live pipeline re-query the latency once inference proves slower
  // than what was reported.
  if (impl.processing.observe(encode_ns + impl.stream.last_emit_ns) && impl.stats.frames_in > 2)
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
}

GstFlowReturn cosaliency_submit_input_buffer(GstBaseTransform* trans, gboolean is_discont,
                                             GstBuffer* input) {
  auto* self = GST_COSALIENCY(trans);
  Impl& impl = *self->impl;
  Stream& st = impl.stream;
  // The base class renegotiates if needed and drops buffers that QoS says
  // are too late: they are counted, never decoded.
  GstFlowReturn ret =
      GST_BASE_TRANSFORM_CLASS(parent_class)->submit_input_buffer(trans, is_discont, input);
  if (ret == GST_BASE_TRANSFORM_FLOW_DROPPED) {
    impl.stats.qos_dropped++;
    GST_DEBUG_OBJECT(self, "late frame dropped (QoS), %" G_GUINT64_FORMAT " so far",
                     impl.stats.qos_dropped.load());
    return ret;
  }
  if (ret != GST_FLOW_OK) return ret;
  GstBuffer* in = trans->queued_buf;
  trans->queued_buf = nullptr;
  if (!in) return GST_FLOW_OK;
  if (st.deferred_flow != GST_FLOW_OK) {
    ret = st.deferred_flow;
    st.deferred_flow = GST_FLOW_OK;
    gst_buffer_unref(in);
    return ret;
  }
  if (!st.configured || !impl.model) {
    gst_buffer_unref(in);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  impl.stats.frames_in++;
  const auto t0 = std::chrono::steady_clock::now();
  const LiveSettings s = live_settings_of(self);
  st.processor.set_live_options(s.refresh_interval, s.smoothing, s.scene_cut_threshold);
  // LibTorch keeps the thread count per thread: set it on the streaming
  // thread that runs this element, not process-wide from the caller's.
  const int threads = st.threads_for(s.threads);
  if (cosal::cpu_threads() != threads) cosal::set_cpu_threads(threads);

  if (GST_BUFFER_IS_DISCONT(in)) {
    // The frames pending in the old group come out with it (generate_output).
    try {
      reset_group(self, "discontinuity");
    } catch (const std::exception& e) {
      gst_buffer_unref(in);
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("co-saliency decoding failed: %s", e.what()),
                        (nullptr));
      return GST_FLOW_ERROR;
    }
  }

  GstVideoFrame inf, rgbf;
  if (!gst_video_frame_map(&inf, &st.in_info, in, GST_MAP_READ)) {
    // A buffer smaller than its caps claim (a broken upstream): drop it and
    // go on rather than take the pipeline down; warn once, count them all.
    const gsize size = gst_buffer_get_size(in);
    gst_buffer_unref(in);
    impl.stats.frames_in--;
    if (impl.stats.invalid_dropped++ == 0)
      GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("dropping invalid video buffers"),
                          ("buffer of %" G_GSIZE_FORMAT " bytes, the caps need %" G_GSIZE_FORMAT
                           "; further ones are counted in stats' invalid-dropped",
                           size, GST_VIDEO_INFO_SIZE(&st.in_info)));
    else
      GST_DEBUG_OBJECT(self, "dropped an invalid buffer of %" G_GSIZE_FORMAT " bytes", size);
    return GST_FLOW_OK;
  }
  if (!gst_video_frame_map(&rgbf, &st.rgb_info, st.rgb, GST_MAP_WRITE)) {
    gst_video_frame_unmap(&inf);
    gst_buffer_unref(in);
    return GST_FLOW_ERROR;
  }
  gst_video_converter_frame(st.to_rgb, &inf, &rgbf);
  gst_video_frame_unmap(&inf);
  cosal::RgbView view;
  view.data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&rgbf, 0));
  view.width = GST_VIDEO_FRAME_WIDTH(&rgbf);
  view.height = GST_VIDEO_FRAME_HEIGHT(&rgbf);
  view.stride = GST_VIDEO_FRAME_PLANE_STRIDE(&rgbf, 0);

  const int64_t cuts = st.processor.scene_cuts();
  try {
    // Encodes, and on a scene cut completes the old group's pending frames
    // first (their masks wait in the processor for the held buffers).
    st.processor.push(*impl.model, view);
  } catch (const std::exception& e) {
    gst_video_frame_unmap(&rgbf);
    gst_buffer_unref(in);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("co-saliency encoding failed: %s", e.what()),
                      (nullptr));
    return GST_FLOW_ERROR;
  }
  gst_video_frame_unmap(&rgbf);
  if (st.processor.scene_cuts() != cuts) GST_DEBUG_OBJECT(self, "scene cut: new group");
  self->impl->mutex.lock();
  st.held.push_back(in);
  self->impl->mutex.unlock();
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  impl.stats.inference_ns += static_cast<guint64>(ns);
  impl.stats.inferences++;
  note_processing_time(self, ns);
  return GST_FLOW_OK;
}

GstFlowReturn cosaliency_generate_output(GstBaseTransform* trans, GstBuffer** outbuf) {
  auto* self = GST_COSALIENCY(trans);
  Stream& st = self->impl->stream;
  *outbuf = nullptr;
  if (!st.finished.empty()) {
    *outbuf = st.finished.front();
    st.finished.pop_front();
    return GST_FLOW_OK;
  }
  if (st.processor.ready() && !st.held.empty()) return emit_one(self, outbuf);
  return GST_FLOW_OK;
}

gboolean cosaliency_sink_event(GstBaseTransform* trans, GstEvent* event) {
  auto* self = GST_COSALIENCY(trans);
  Stream& st = self->impl->stream;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_FLUSH_STOP:
      self->impl->mutex.lock();
      st.clear_buffers();
      self->impl->mutex.unlock();
      st.processor.clear();  // flushed frames are dropped, not decoded
      st.deferred_flow = GST_FLOW_OK;
      break;
    case GST_EVENT_CAPS: {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      GstCaps* current = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
      const bool same = current && gst_caps_is_equal(current, caps);
      if (current) gst_caps_unref(current);
      if (!same && st.configured && !st.held.empty()) drain_and_push(self, "new caps");
      break;
    }
    case GST_EVENT_EOS:
    case GST_EVENT_STREAM_START:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_GAP:
      // Frames held in window mode belong to the old stream / segment:
      // emit them with the group they have before the event goes on.
      if (st.configured && !st.held.empty()) drain_and_push(self, GST_EVENT_TYPE_NAME(event));
      if (GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START) {
        try {
          reset_group(self, "new stream");  // nothing pending: drained above
        } catch (const std::exception& e) {
          GST_ELEMENT_ERROR(self, STREAM, FAILED, ("co-saliency decoding failed: %s", e.what()),
                            (nullptr));
        }
      }
      if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) log_stats(self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

// Adds what the element holds back: the look-ahead frames of window mode,
// plus the measured per-frame processing time (a live sink must wait that long
// for every frame; 0 until a frame has been processed).
gboolean cosaliency_query(GstBaseTransform* trans, GstPadDirection direction, GstQuery* query) {
  gboolean ret = GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
  if (ret && direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    auto* self = GST_COSALIENCY(trans);
    Impl& impl = *self->impl;
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    const Settings s = settings_of(self);
    GstClockTime ours = 0;
    if (s.mode == GST_COSALIENCY_MODE_WINDOW) {
      GstClockTime d = GST_CLOCK_TIME_NONE;
      GstCaps* caps = gst_pad_get_current_caps(GST_BASE_TRANSFORM_SINK_PAD(trans));
      if (caps) {
        GstVideoInfo info;
        if (gst_video_info_from_caps(&info, caps)) d = frame_duration(info);
        gst_caps_unref(caps);
      }
      // Unknown frame rate: assume 30 fps rather than claim no latency.
      if (!GST_CLOCK_TIME_IS_VALID(d)) d = GST_SECOND / 30;
      ours += static_cast<GstClockTime>(s.window_size / 2) * d;
    }
    ours += static_cast<GstClockTime>(impl.processing.report());
    GST_DEBUG_OBJECT(self, "adding latency %" GST_TIME_FORMAT, GST_TIME_ARGS(ours));
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    gst_query_set_latency(query, live, min, max);
  }
  return ret;
}

// ---- properties ----

bool refuse_change(GstCosaliency* self, const char* name, GstState from) {
  GST_OBJECT_LOCK(self);
  const GstState state = GST_STATE(self);
  GST_OBJECT_UNLOCK(self);
  if (state < from) return false;
  GST_WARNING_OBJECT(self,
                     "property \"%s\" cannot change in state %s (it needs the element in %s or "
                     "below); keeping the current value",
                     name, gst_element_state_get_name(state),
                     from == GST_STATE_READY ? "NULL" : "READY");
  return true;
}

void cosaliency_set_property(GObject* object, guint prop_id, const GValue* value,
                             GParamSpec* pspec) {
  auto* self = GST_COSALIENCY(object);
  Settings& s = self->impl->settings;
  // model and device are loaded at NULL->READY; the others fix caps and
  // buffering at negotiation.
  switch (prop_id) {
    case PROP_MODEL:
    case PROP_DEVICE:
      if (refuse_change(self, pspec->name, GST_STATE_READY)) return;
      break;
    case PROP_MODE:
    case PROP_OUTPUT:
    case PROP_WINDOW_SIZE:
    case PROP_INFERENCE_SIZE:
      if (refuse_change(self, pspec->name, GST_STATE_PAUSED)) return;
      break;
    default:
      break;
  }
  self->impl->mutex.lock();
  switch (prop_id) {
    case PROP_MODEL: {
      const gchar* v = g_value_get_string(value);
      s.model = v ? v : "";
      break;
    }
    case PROP_DEVICE: {
      const gchar* v = g_value_get_string(value);
      s.device = v && *v ? v : kDefaultDevice;
      break;
    }
    case PROP_MODE:
      s.mode = static_cast<GstCosaliencyMode>(g_value_get_enum(value));
      break;
    case PROP_OUTPUT:
      s.output = static_cast<GstCosaliencyOutput>(g_value_get_enum(value));
      break;
    case PROP_WINDOW_SIZE:
      s.window_size = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_REFRESH_INTERVAL:
      s.refresh_interval = g_value_get_int(value);
      break;
    case PROP_THRESHOLD:
      s.threshold = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_SMOOTHING:
      s.smoothing = g_value_get_double(value);
      break;
    case PROP_INFERENCE_SIZE:
      s.inference_size = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_THREADS:
      s.threads = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_SCENE_CUT_THRESHOLD:
      s.scene_cut_threshold = g_value_get_double(value);
      break;
    case PROP_EDGE_REFINE:
      s.edge_refine = static_cast<GstCosaliencyEdgeRefine>(g_value_get_enum(value));
      break;
    case PROP_EDGE_RADIUS:
      s.edge_radius = static_cast<int>(g_value_get_uint(value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  self->impl->mutex.unlock();
  if (prop_id == PROP_OUTPUT) gst_base_transform_reconfigure_src(GST_BASE_TRANSFORM(self));
}

void cosaliency_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_COSALIENCY(object);
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, stats_structure(self));
    return;
  }
  self->impl->mutex.lock();
  const Settings& s = self->impl->settings;
  switch (prop_id) {
    case PROP_MODEL:
      if (s.model.empty()) {
        self->impl->mutex.unlock();
        g_value_set_string(value, cosal::Model::default_path().c_str());
        return;
      }
      g_value_set_string(value, s.model.c_str());
      break;
    case PROP_DEVICE:
      g_value_set_string(value, s.device.c_str());
      break;
    case PROP_MODE:
      g_value_set_enum(value, s.mode);
      break;
    case PROP_OUTPUT:
      g_value_set_enum(value, s.output);
      break;
    case PROP_WINDOW_SIZE:
      g_value_set_uint(value, static_cast<guint>(s.window_size));
      break;
    case PROP_REFRESH_INTERVAL:
      g_value_set_int(value, s.refresh_interval);
      break;
    case PROP_THRESHOLD:
      g_value_set_uint(value, static_cast<guint>(s.threshold));
      break;
    case PROP_SMOOTHING:
      g_value_set_double(value, s.smoothing);
      break;
    case PROP_INFERENCE_SIZE:
      g_value_set_uint(value, static_cast<guint>(s.inference_size));
      break;
    case PROP_THREADS:
      g_value_set_uint(value, static_cast<guint>(s.threads));
      break;
    case PROP_SCENE_CUT_THRESHOLD:
      g_value_set_double(value, s.scene_cut_threshold);
      break;
    case PROP_EDGE_REFINE:
      g_value_set_enum(value, s.edge_refine);
      break;
    case PROP_EDGE_RADIUS:
      g_value_set_uint(value, static_cast<guint>(s.edge_radius));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  self->impl->mutex.unlock();
}

void cosaliency_finalize(GObject* object) {
  auto* self = GST_COSALIENCY(object);
  self->impl->stream.release();
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

const char* kDescription =
    "Extracts the common foreground of a video with the RCAN co-saliency network "
    "(recurrent co-attention), the frames of a sliding window forming the group.\n"
    "\n"
    "Input: raw RGB, BGR, RGBA, BGRA, RGBx, BGRx, ARGB, ABGR, I420 or NV12 of any size. "
    "Each frame is converted and scaled in one GstVideoConverter pass to packed RGB at the "
    "inference size (inference-size on the long side, aspect kept, rounded to the model's "
    "size multiple; 0 = the model's native size), encoded once by the backbone, and decoded "
    "against the group feature G. The mask (soft 0-255, or binary with threshold > 0, "
    "optionally smoothed in time) is scaled back to the frame size bilinearly, or with "
    "edge-refine=guided by a fast guided filter whose guide is the frame's luma (the Y plane "
    "of YUV input), so its edges follow the frame's.\n"
    "\n"
    "output=alpha: the frame in RGBA/BGRA/ARGB/ABGR (channel order kept; in place for alpha "
    "inputs) with the mask as alpha. output=mask: GRAY8 at the input size. output=meta: the "
    "input untouched, the mask attached as GstCosalMaskMeta (header cosalmeta.h: width, "
    "height, stride, data). Timestamps, durations and flags are kept on every buffer.\n"
    "\n"
    "mode=streaming: each frame updates the persistent G once (one RCAU step) and is decoded "
    "at once; no frames are held. mode=window: frame t is emitted once frame t+window-size/2 "
    "has arrived and decoded against the group of its centred window; consecutive windows "
    "overlap in all but one frame, so there is no reset at window borders. In both modes G "
    "is re-seeded from the cached features of the window (Model::seed) every "
    "refresh-interval frames, so frames that left the window stop influencing it; between "
    "re-seeds each frame entering the window is folded in with one RCAU step. Default (-1): "
    "every frame in window mode (window-size RCAU steps per frame, cheap next to the "
    "backbone), every window-size frames in streaming mode; 0 = never.\n"
    "\n"
    "A new group starts (G reset) on FLUSH_STOP, STREAM_START, a DISCONT buffer, a caps "
    "change (e.g. a resolution change), and a scene cut (scene-cut-threshold > 0: mean "
    "absolute difference of 16x16 luma thumbnails). Held frames are emitted with the group "
    "they have before EOS, caps, segment and stream-start events and before a reset.\n"
    "\n"
    "LATENCY: window mode adds window-size/2 frame durations (30 fps assumed when the rate "
    "is unknown); both modes add the measured mean per-frame processing time (0 before the "
    "first frame; a latency message is posted when it grows by a quarter). QoS (qos=true by "
    "default): frames that arrive after the earliest time downstream can use are dropped "
    "without inference and counted in stats' qos-dropped. A buffer smaller than its caps "
    "claim is dropped (a WARNING message for the first) and counted in invalid-dropped. The "
    "read-only stats property (and an INFO debug line at EOS and stop) reports frames-in, "
    "frames-out, qos-dropped, invalid-dropped, group-resets (resets that discarded state), "
    "scene-cuts, seeds, rcau-updates, mean-inference-ms (encode, RCAU, decode and mask "
    "rendering time per encoded frame) and held, all counted from the last start.\n"
    "\n"
    "The model is loaded at NULL->READY (errors: RESOURCE/NOT_FOUND for a missing file, "
    "RESOURCE/SETTINGS for a corrupt or incompatible one or unavailable CUDA); instances "
    "share one loaded model per file and device. model and device can only change in NULL; "
    "mode, output, window-size and inference-size only in NULL or READY (otherwise the "
    "change is refused with a warning and the value kept).";

}  // namespace

static void gst_cosaliency_class_init(GstCosaliencyClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  gobject_class->set_property = cosaliency_set_property;
  gobject_class->get_property = cosaliency_get_property;
  gobject_class->finalize = cosaliency_finalize;

  const GParamFlags rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags rw_ready = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_READY);

  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model",
                          "Weights file (.safetensors); default: the installed default model "
                          "($COSAL_MODEL overrides). Loaded at NULL->READY",
                          nullptr, rw));
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
                          "auto (CUDA if available, else CPU with a warning), cpu, cuda or "
                          "cuda:N",
                          kDefaultDevice, rw));
  g_object_class_install_property(
      gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode", "How frames form the group", GST_TYPE_COSALIENCY_MODE,
                        GST_COSALIENCY_MODE_STREAMING, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_OUTPUT,
      g_param_spec_enum("output", "Output", "What the element pushes", GST_TYPE_COSALIENCY_OUTPUT,
                        GST_COSALIENCY_OUTPUT_ALPHA, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_WINDOW_SIZE,
      g_param_spec_uint("window-size", "Window size",
                        "Frames in the group's sliding window (window mode holds window-size/2 "
                        "of them back)",
                        1, 256, kDefaultWindowSize, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_REFRESH_INTERVAL,
      g_param_spec_int("refresh-interval", "Refresh interval",
                       "Re-seed G from the window's cached features every this many frames "
                       "(0 = never; 1 = every frame against exactly its window; -1 = 1 in "
                       "window mode, window-size in streaming mode)",
                       -1, G_MAXINT, kDefaultRefreshInterval, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLD,
      g_param_spec_uint("threshold", "Threshold",
                        "0 = soft masks (0-255); otherwise binary: 255 where the soft mask is "
                        ">= threshold, else 0",
                        0, 255, 0, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_SMOOTHING,
      g_param_spec_double("smoothing", "Smoothing",
                          "Temporal smoothing of the masks: weight of the previous mask in an "
                          "exponential moving average (0 = off)",
                          0.0, 1.0, 0.0, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_INFERENCE_SIZE,
      g_param_spec_uint("inference-size", "Inference size",
                        "Long side of the network input in pixels (short side keeps the aspect "
                        "ratio, both rounded to the model's size multiple); 0 = the model's "
                        "native size",
                        0, 4096, 0, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
                        "CPU inference threads of the streaming thread that runs this element "
                        "(LibTorch keeps the count per thread; two elements in one streaming "
                        "thread share it); 0 = $OMP_NUM_THREADS if set, else one per CPU the "
                        "process may run on",
                        0, 1024, 0, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_SCENE_CUT_THRESHOLD,
      g_param_spec_double("scene-cut-threshold", "Scene cut threshold",
                          "Start a new group when the mean absolute difference of consecutive "
                          "16x16 luma thumbnails exceeds this fraction of full scale (0 = off; "
                          "0.2-0.3 suits most video)",
                          0.0, 1.0, 0.0, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_EDGE_REFINE,
      g_param_spec_enum("edge-refine", "Edge refinement",
                        "How the mask is scaled to the frame size: none (bilinear) or guided "
                        "(fast guided filter, the frame's luma as the guide; see edge-radius)",
                        GST_TYPE_COSALIENCY_EDGE_REFINE, GST_COSALIENCY_EDGE_REFINE_NONE,
                        rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_EDGE_RADIUS,
      g_param_spec_uint("edge-radius", "Edge radius",
                        "edge-refine=guided: radius of the guided filter's windows in pixels "
                        "of the mask at the inference size (how far an edge may move onto the "
                        "frame's)",
                        0, 64, cosal::GuidedUpsampler::kDefaultRadius, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "frames-in, frames-out, qos-dropped, invalid-dropped, group-resets, "
                         "scene-cuts, seeds, rcau-updates, mean-inference-ms, held",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata(element_class, "Co-saliency foreground extraction",
                                        "Filter/Effect/Video", kDescription, "cosaliency project");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  element_class->change_state = cosaliency_change_state;

  trans_class->start = cosaliency_start;
  trans_class->stop = cosaliency_stop;
  trans_class->transform_caps = cosaliency_transform_caps;
  trans_class->fixate_caps = cosaliency_fixate_caps;
  trans_class->set_caps = cosaliency_set_caps;
  trans_class->submit_input_buffer = cosaliency_submit_input_buffer;
  trans_class->generate_output = cosaliency_generate_output;
  trans_class->sink_event = cosaliency_sink_event;
  trans_class->query = cosaliency_query;

  gst_type_mark_as_plugin_api(GST_TYPE_COSALIENCY_MODE, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_COSALIENCY_OUTPUT, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_COSALIENCY_EDGE_REFINE, static_cast<GstPluginAPIFlags>(0));
}

static void gst_cosaliency_init(GstCosaliency* self) {
  self->impl = new Impl();
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), TRUE);
}

gboolean gst_cosaliency_plugin_init(GstPlugin* plugin) {
  GST_DEBUG_CATEGORY_INIT(gst_cosaliency_debug, "cosaliency", 0, "co-saliency element");
  gst_cosal_mask_meta_get_info();
  return gst_element_register(plugin, "cosaliency", GST_RANK_NONE, GST_TYPE_COSALIENCY);
}
