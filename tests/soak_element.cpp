// Soak check (tools/run-long-checks.sh, not part of `meson test`): many
// frames through the cosaliency element, resident memory sampled every N
// frames. Exits 1 when RSS after warm-up grows by more than --max-growth-mib.
//
//   soak_element [--frames 20000] [--every 500] [--warmup 1000]
//                [--width 854] [--height 480] [--model PATH] [--max-growth-mib 16]
#include <gst/gst.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gstcosaliency.h"

namespace {

struct Sample {
  guint64 frame;
  double rss_mib;
  double seconds;
};

double rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return -1.0;
}

struct Soak {
  guint64 every = 500;
  guint64 frames = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::vector<Sample> samples;
};

GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo*, gpointer data) {
  auto* s = static_cast<Soak*>(data);
  ++s->frames;
  if (s->frames % s->every == 0) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s->start).count();
    s->samples.push_back({s->frames, rss_mib(), t});
    std::printf("soak: frame %6" G_GUINT64_FORMAT "  rss %7.1f MiB  %7.1f s  (%.1f fps)\n",
                s->frames, s->samples.back().rss_mib, t, static_cast<double>(s->frames) / t);
    std::fflush(stdout);
  }
  return GST_PAD_PROBE_OK;
}

}  // namespace

int main(int argc, char** argv) {
  guint64 frames = 20000, every = 500, warmup = 1000;
  int width = 854, height = 480;
  double max_growth = 16.0;
  std::string model;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--frames")
      frames = std::strtoull(v, nullptr, 10);
    else if (k == "--every")
      every = std::max<guint64>(1, std::strtoull(v, nullptr, 10));
    else if (k == "--warmup")
      warmup = std::strtoull(v, nullptr, 10);
    else if (k == "--width")
      width = std::atoi(v);
    else if (k == "--height")
      height = std::atoi(v);
    else if (k == "--model")
      model = v;
    else if (k == "--max-growth-mib")
      max_growth = std::atof(v);
    else {
      std::fprintf(stderr, "soak_element: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  gst_init(&argc, &argv);
  if (!gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "cosaliency", "soak",
                                  gst_cosaliency_plugin_init, "0", "LGPL", "cosaliency",
                                  "cosaliency", "soak")) {
    std::fprintf(stderr, "soak_element: cannot register the element\n");
    return 2;
  }
  const std::string desc =
      "videotestsrc num-buffers=" + std::to_string(frames) +
      " pattern=ball ! video/x-raw,format=I420,width=" + std::to_string(width) +
      ",height=" + std::to_string(height) + ",framerate=30/1 ! cosaliency name=c device=cpu" +
      (model.empty() ? "" : " model=\"" + model + "\"") + " ! fakesink name=sink sync=false";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  if (!pipeline || err) {
    std::fprintf(stderr, "soak_element: %s\n", err ? err->message : "no pipeline");
    return 2;
  }
  Soak soak;
  soak.every = every;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &soak, nullptr);
  gst_object_unref(pad);
  gst_object_unref(sink);
  std::printf("soak: %s\n", desc.c_str());
  std::printf("soak: rss before PLAYING %.1f MiB\n", rss_mib());
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::fprintf(stderr, "soak_element: cannot start the pipeline\n");
    return 2;
  }
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, GST_CLOCK_TIME_NONE, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  int rc = 0;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    std::fprintf(stderr, "soak_element: pipeline error: %s\n", e->message);
    g_error_free(e);
    rc = 2;
  }
  gst_message_unref(msg);
  GstElement* c = gst_bin_get_by_name(GST_BIN(pipeline), "c");
  GstStructure* stats = nullptr;
  g_object_get(c, "stats", &stats, nullptr);
  gchar* stats_str = gst_structure_to_string(stats);
  std::printf("soak: element stats %s\n", stats_str);
  g_free(stats_str);
  gst_structure_free(stats);
  gst_object_unref(c);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);

  if (soak.frames != frames) {
    std::fprintf(stderr, "soak_element: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " frames\n",
                 soak.frames, frames);
    rc = rc ? rc : 1;
  }
  // Memory after warm-up: the first sample at or past `warmup`, the last,
  // and the extremes in between.
  const Sample* first = nullptr;
  double hi = 0.0, lo = 1e18;
  for (const Sample& s : soak.samples) {
    if (s.frame < warmup) continue;
    if (!first) first = &s;
    hi = std::max(hi, s.rss_mib);
    lo = std::min(lo, s.rss_mib);
  }
  if (!first) {
    std::fprintf(stderr, "soak_element: no sample after warm-up\n");
    return rc ? rc : 1;
  }
  const Sample& last = soak.samples.back();
  const double growth = last.rss_mib - first->rss_mib;
  std::printf("soak: after warm-up (frame %" G_GUINT64_FORMAT
              "): first %.1f MiB, last %.1f MiB "
              "(frame %" G_GUINT64_FORMAT
              "), min %.1f, max %.1f, growth %+.1f MiB "
              "(limit %.1f)\n",
              first->frame, first->rss_mib, last.rss_mib, last.frame, lo, hi, growth, max_growth);
  if (hi - first->rss_mib > max_growth || growth > max_growth) {
    std::printf("soak: FAIL: resident memory grows\n");
    return rc ? rc : 1;
  }
  std::printf("soak: %s\n", rc ? "FAIL" : "OK: resident memory flat after warm-up");
  return rc;
}
