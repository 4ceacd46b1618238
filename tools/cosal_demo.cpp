// cosal-demo: the README's main job. Runs a video through the `cosaliency`
// element and writes, into an output folder, what a person looks at:
//   cutout.webm        the foreground over a checkerboard,
//   mask.webm          the alpha mask as a grey video,
//   contact_sheet.png  a few frames: input | mask | cut-out.
// Every output is written under a temporary name and renamed when complete.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "image.h"
#include "video_encoders.h"

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string input = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
  std::string out_dir = "cosal-demo-out";
  std::string element_args;  // extra cosaliency properties, e.g. "mode=window"
  int sheet_frames = 6;
  bool force = false;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "cosal-demo: %s\n", message.c_str());
  return 2;
}

// Fills `o` from the command line (GStreamer's own options included, which
// also initialises GStreamer). Returns -1 to go on, else the exit status.
int parse_args(int argc, char** argv, Options& o) {
  // Byte strings, not converted from the locale's charset: paths and
  // gst-launch properties are passed on as given.
  gchar *input = nullptr, *out_dir = nullptr, *element_args = nullptr;
  gint sheet_frames = o.sheet_frames;
  gboolean force = FALSE;
  const GOptionEntry entries[] = {
      {"input", 0, 0, G_OPTION_ARG_FILENAME, &input,
       "Video file or URI (default: Megamind.avi from Debian's opencv-doc)", "FILE|URI"},
      {"out", 0, 0, G_OPTION_ARG_FILENAME, &out_dir,
       "Output folder, created if missing (default: cosal-demo-out)", "DIR"},
      {"element", 0, 0, G_OPTION_ARG_FILENAME, &element_args,
       "More cosaliency properties, gst-launch syntax (e.g. \"mode=window window-size=16\")",
       "\"PROP=VALUE ...\""},
      {"sheet-frames", 0, 0, G_OPTION_ARG_INT, &sheet_frames,
       "Frames on the contact sheet, spread over the clip (default 6)", "N"},
      {"force", 0, 0, G_OPTION_ARG_NONE, &force, "Replace outputs that already exist", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  // --help in the user's charset (GLib converts its text to it); numbers stay in
  // the C format that the printed tables and the parsers expect.
  setlocale(LC_ALL, "");
  setlocale(LC_NUMERIC, "C");
  GOptionContext* ctx = g_option_context_new("- cut the foreground out of a video");
  g_option_context_set_summary(ctx,
                               "Runs a video through the cosaliency element and writes into DIR:\n"
                               "  cutout.webm        the foreground over a checkerboard\n"
                               "  mask.webm          the alpha mask as a grey video\n"
                               "  contact_sheet.png  a few frames: input | mask | cut-out");
  g_option_context_set_description(
      ctx,
      "Each output is written under a temporary name and renamed when complete. An existing\n"
      "output is refused unless --force.\n"
      "\n"
      "Example:\n"
      "  cosal-demo --input clip.mp4 --out clip-out --element \"mode=window\"\n");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* error = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  auto take = [](gchar* v, std::string& to) {
    if (v) to = v;
    g_free(v);
  };
  take(input, o.input);
  take(out_dir, o.out_dir);
  take(element_args, o.element_args);
  o.sheet_frames = sheet_frames;
  o.force = force;
  if (!parsed) {
    const std::string m = error->message;
    g_error_free(error);
    return usage_error(m + " (see --help)");
  }
  if (argc > 1)
    return usage_error(std::string("unexpected argument '") + argv[1] + "' (see --help)");
  if (o.sheet_frames < 1)
    return usage_error("--sheet-frames: expected at least 1, got " +
                       std::to_string(o.sheet_frames));
  return -1;
}

// An encoder pipeline fed from our own buffers: appsrc ! <the WebM encoder> ! filesink.
struct Encoder {
  GstElement* pipeline = nullptr;
  GstAppSrc* src = nullptr;
  std::string tmp_path;

  void start(const std::string& path, const char* format, int w, int h, int fps_n, int fps_d) {
    tmp_path = path;
    gchar* desc = g_strdup_printf(
        "appsrc name=src format=time caps=video/x-raw,format=%s,width=%d,height=%d,"
        "framerate=%d/%d ! %s ! filesink location=\"%s\"",
        format, w, h, fps_n, fps_d, cosal::kWebmVp8.pipeline, path.c_str());
    GError* err = nullptr;
    pipeline = gst_parse_launch(desc, &err);
    g_free(desc);
    if (!pipeline) {
      std::fprintf(stderr, "cosal-demo: cannot build encoder: %s\n", err->message);
      std::exit(1);
    }
    src = GST_APP_SRC(gst_bin_get_by_name(GST_BIN(pipeline), "src"));
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
  }
  void push(std::vector<uint8_t>&& bytes, GstClockTime pts, GstClockTime duration) {
    auto* heap = new std::vector<uint8_t>(std::move(bytes));
    GstBuffer* buf = gst_buffer_new_wrapped_full(
        GST_MEMORY_FLAG_READONLY, heap->data(), heap->size(), 0, heap->size(), heap,
        [](gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); });
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DURATION(buf) = duration;
    gst_app_src_push_buffer(src, buf);
  }
  bool finish() {
    if (!pipeline) return false;
    gst_app_src_end_of_stream(src);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, GST_CLOCK_TIME_NONE, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    bool ok = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
    if (msg) gst_message_unref(msg);
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(src);
    gst_object_unref(pipeline);
    pipeline = nullptr;
    return ok;
  }
};

uint8_t checker(int x, int y) { return ((x / 16 + y / 16) & 1) ? 200 : 120; }

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (const int code = parse_args(argc, argv, opt); code >= 0) return code;

  std::string uri;
  if (gst_uri_is_valid(opt.input.c_str())) {
    uri = opt.input;
  } else {
    if (!fs::exists(opt.input)) {
      std::fprintf(stderr, "cosal-demo: input %s does not exist\n", opt.input.c_str());
      return 1;
    }
    GError* err = nullptr;
    gchar* u = gst_filename_to_uri(opt.input.c_str(), &err);
    uri = u;
    g_free(u);
  }
  fs::create_directories(opt.out_dir);
  const std::string ext = cosal::kWebmVp8.extension;
  const fs::path cutout_path = fs::path(opt.out_dir) / ("cutout" + ext);
  const fs::path mask_path = fs::path(opt.out_dir) / ("mask" + ext);
  const fs::path sheet_path = fs::path(opt.out_dir) / "contact_sheet.png";
  if (!opt.force) {
    for (const auto& p : {cutout_path, mask_path, sheet_path}) {
      if (fs::exists(p)) {
        std::fprintf(stderr, "cosal-demo: %s exists; pass --force to overwrite it\n", p.c_str());
        return 1;
      }
    }
  }

  // Total frame count, to spread the contact sheet over the whole clip.
  gchar* desc = g_strdup_printf(
      "uridecodebin uri=\"%s\" ! videoconvert ! cosaliency name=cosal output=alpha %s ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false max-buffers=4",
      uri.c_str(), opt.element_args.c_str());
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipeline || err) {
    std::fprintf(stderr, "cosal-demo: cannot build the pipeline: %s\n",
                 err ? err->message : "unknown error");
    return 1;
  }
  GstAppSink* sink = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(pipeline), "sink"));
  if (gst_element_set_state(pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    // The bus holds the element's error (a missing or corrupt model, say).
  }
  GstBus* bus = gst_element_get_bus(pipeline);
  auto check_bus = [&]() -> bool {
    while (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &e, &dbg);
      std::fprintf(stderr, "cosal-demo: error from %s: %s\n  %s\n", GST_OBJECT_NAME(msg->src),
                   e->message, dbg ? dbg : "");
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(msg);
      return false;
    }
    return true;
  };
  gst_element_get_state(pipeline, nullptr, nullptr, 30 * GST_SECOND);
  gint64 duration = -1;
  gst_element_query_duration(pipeline, GST_FORMAT_TIME, &duration);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);

  Encoder cutout_enc, mask_enc;
  const std::string cutout_tmp = cutout_path.string() + ".part" + ext;
  const std::string mask_tmp = mask_path.string() + ".part" + ext;
  std::vector<cosal::Image> sheet_rows;
  int width = 0, height = 0, frames = 0;
  GstClockTime sheet_step = GST_CLOCK_TIME_NONE, next_sheet = 0;
  const auto t0 = std::chrono::steady_clock::now();

  while (GstSample* sample = gst_app_sink_pull_sample(sink)) {
    GstVideoInfo info;
    gst_video_info_from_caps(&info, gst_sample_get_caps(sample));
    GstBuffer* buf = gst_sample_get_buffer(sample);
    GstVideoFrame frame;
    if (!gst_video_frame_map(&frame, &info, buf, GST_MAP_READ)) {
      gst_sample_unref(sample);
      continue;
    }
    const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
    if (frames == 0) {
      width = w;
      height = h;
      int fn = GST_VIDEO_INFO_FPS_N(&info), fd = GST_VIDEO_INFO_FPS_D(&info);
      if (fn <= 0) fn = 25, fd = 1;
      cutout_enc.start(cutout_tmp, "RGB", w, h, fn, fd);
      mask_enc.start(mask_tmp, "GRAY8", w, h, fn, fd);
      if (duration > 0) sheet_step = duration / opt.sheet_frames;
    }
    if (w != width || h != height) {
      std::fprintf(stderr, "cosal-demo: the video changes size mid-stream; stopping there\n");
      gst_video_frame_unmap(&frame);
      gst_sample_unref(sample);
      break;
    }
    const auto* px = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3), mask(static_cast<size_t>(w) * h);
    for (int y = 0; y < h; ++y) {
      const uint8_t* row = px + static_cast<size_t>(y) * stride;
      for (int x = 0; x < w; ++x) {
        const uint8_t* p = row + 4 * x;
        const int a = p[3];
        const int bg = checker(x, y);
        uint8_t* o = &rgb[(static_cast<size_t>(y) * w + x) * 3];
        for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>((p[c] * a + bg * (255 - a)) / 255);
        mask[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(a);
      }
    }
    const GstClockTime pts = GST_BUFFER_PTS(buf);
    if (GST_CLOCK_TIME_IS_VALID(pts) && pts >= next_sheet &&
        static_cast<int>(sheet_rows.size()) < opt.sheet_frames) {
      // One row: input | mask | cut-out, each scaled to 320 px wide.
      const int cw = 320, ch = std::max(1, h * cw / w);
      cosal::Image in(w, h, 3), m(w, h, 3), cut(w, h, 3);
      for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
        const int y = static_cast<int>(i / w), x = static_cast<int>(i % w);
        const uint8_t* p = px + static_cast<size_t>(y) * stride + 4 * x;
        for (int c = 0; c < 3; ++c) {
          in.pixels[i * 3 + c] = p[c];
          m.pixels[i * 3 + c] = mask[i];
          cut.pixels[i * 3 + c] = rgb[i * 3 + c];
        }
      }
      cosal::Image row(3 * cw + 8, ch, 3, 255);
      const cosal::Image parts[3] = {cosal::resize(in, cw, ch), cosal::resize(m, cw, ch),
                                     cosal::resize(cut, cw, ch)};
      for (int k = 0; k < 3; ++k)
        for (int y = 0; y < ch; ++y)
          std::memcpy(row.row(y) + static_cast<size_t>(k) * (cw + 4) * 3, parts[k].row(y),
                      static_cast<size_t>(cw) * 3);
      sheet_rows.push_back(std::move(row));
      next_sheet = GST_CLOCK_TIME_IS_VALID(sheet_step) ? pts + sheet_step : pts + 2 * GST_SECOND;
    }
    cutout_enc.push(std::move(rgb), pts, GST_BUFFER_DURATION(buf));
    mask_enc.push(std::move(mask), pts, GST_BUFFER_DURATION(buf));
    gst_video_frame_unmap(&frame);
    gst_sample_unref(sample);
    ++frames;
    if (frames % 25 == 0) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\rcosal-demo: %d frames, %.1f fps", frames, frames / s);
    }
  }
  std::fprintf(stderr, "\n");
  const bool pipeline_ok = check_bus();
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(pipeline);

  const bool enc_ok = cutout_enc.finish() & mask_enc.finish();
  if (!pipeline_ok || frames == 0 || !enc_ok) {
    std::fprintf(stderr, "cosal-demo: failed after %d frames; nothing written under final names\n",
                 frames);
    fs::remove(cutout_tmp);
    fs::remove(mask_tmp);
    return 1;
  }
  fs::rename(cutout_tmp, cutout_path);
  fs::rename(mask_tmp, mask_path);
  int sheet_h = 0;
  for (const auto& r : sheet_rows) sheet_h += r.height + 4;
  cosal::Image sheet(sheet_rows.front().width, sheet_h, 3, 255);
  int y0 = 0;
  for (const auto& r : sheet_rows) {
    for (int y = 0; y < r.height; ++y)
      std::memcpy(sheet.row(y0 + y), r.row(y), static_cast<size_t>(r.width) * 3);
    y0 += r.height + 4;
  }
  cosal::save_png(sheet_path.string(), sheet);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("cosal-demo: %d frames of %dx%d in %.1f s (%.1f fps)\n", frames, width, height, secs,
              frames / secs);
  std::printf(
      "  cut-out over a checkerboard: %s\n  mask video:                  %s\n"
      "  contact sheet:               %s\n",
      fs::absolute(cutout_path).c_str(), fs::absolute(mask_path).c_str(),
      fs::absolute(sheet_path).c_str());
  return 0;
}
