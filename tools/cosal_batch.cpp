// cosal-batch: cut-outs or mask videos for many videos, several at once.
//
//   cosal-batch [options] INPUT...
//     INPUT            a video file, a folder (its videos, not recursive) or
//                      @LIST (a text file with one path per line)
//     -o, --out DIR    output folder (default: the current folder)
//     --output KIND    mask (default) or cutout
//     --format FMT     mask: mkv (lossless FFV1, default), webm (VP8), png;
//                      cutout: mkv (FFV1 BGRA with alpha, default), png
//     -j, --jobs N     files processed at once (default: cores / 2, at least 1)
//     --model PATH     weights file (default: the element's default model)
//     --device DEV     auto | cpu | cuda | cuda:N (default auto)
//     --set PROP=VAL   another cosaliency property (repeatable)
//     --force          redo outputs that already exist
//   Outputs are named <input name>-mask.<ext> / <input name>-cutout.<ext>
//   (folders for png); complete ones are skipped, each is written under a
//   .part name and renamed when complete. All jobs share one loaded model.
//   A progress line shows files, frames done, fps and the ETA.
#include <fcntl.h>
#include <gst/gst.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Options {
  fs::path out = ".";
  std::string output = "mask";
  std::string format;
  int jobs = 0;
  std::string model, device = "auto";
  std::vector<std::string> props;
  bool force = false;
};

struct Job {
  fs::path input, output, part;
  bool folder = false;  // png sequence
  GstElement* pipeline = nullptr;
  std::atomic<guint64> frames{0};  // counted in the streaming thread
  bool done = false, failed = false;
  std::string error;
};

struct Batch {
  Options opt;
  std::vector<std::unique_ptr<Job>> jobs;
  size_t next = 0;
  int running = 0, finished = 0, failed = 0, skipped = 0;
  guint64 frames_done_finished = 0;
  std::chrono::steady_clock::time_point start;
  GMainLoop* loop = nullptr;
  bool tty = isatty(STDERR_FILENO) != 0;
};

bool is_video(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  for (const char* v : {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".ogv", ".mpg", ".mpeg",
                        ".ts", ".flv", ".wmv", ".y4m"})
    if (e == v) return true;
  return false;
}

void fsync_path(const fs::path& p) {
  int fd = open(p.c_str(), O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

std::string encoder(const Options& o, bool* folder) {
  *folder = o.format == "png";
  if (o.output == "cutout") {
    if (o.format == "png")
      return "videoconvert ! video/x-raw,format=RGBA ! pngenc ! multifilesink name=sink";
    return "videoconvert ! video/x-raw,format=BGRA ! avenc_ffv1 ! matroskamux ! filesink name=sink";
  }
  if (o.format == "png") return "pngenc ! multifilesink name=sink";
  if (o.format == "webm")
    return "videoconvert ! vp8enc deadline=1 target-bitrate=2000000 ! webmmux ! filesink name=sink";
  return "avenc_ffv1 ! matroskamux ! filesink name=sink";
}

void finish(Batch& b, Job& j, bool ok, const std::string& error);

gboolean on_bus(GstBus*, GstMessage* m, gpointer data) {
  auto* pair = static_cast<std::pair<Batch*, Job*>*>(data);
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
    finish(*pair->first, *pair->second, true, "");
    return G_SOURCE_REMOVE;
  }
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* err = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &err, &dbg);
    const std::string text = err ? err->message : "unknown error";
    if (err) g_error_free(err);
    g_free(dbg);
    finish(*pair->first, *pair->second, false, text);
    return G_SOURCE_REMOVE;  // the pipeline is gone
  }
  return G_SOURCE_CONTINUE;
}

GstPadProbeReturn count_frame(GstPad*, GstPadProbeInfo*, gpointer data) {
  static_cast<Job*>(data)->frames++;
  return GST_PAD_PROBE_OK;
}

void start_next(Batch& b);

bool start(Batch& b, Job& j) {
  const Options& o = b.opt;
  std::string desc =
      "filesrc name=src ! decodebin ! videoconvert ! cosaliency name=c device=" + o.device +
      " output=" + (o.output == "cutout" ? "alpha" : "mask");
  for (const auto& p : o.props) desc += " " + p;
  desc += " ! " + encoder(o, &j.folder);
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p || err) {
    j.error = err ? err->message : "could not build the pipeline";
    if (err) g_error_free(err);
    if (p) gst_object_unref(p);
    return false;
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(p), "src");
  GstElement* c = gst_bin_get_by_name(GST_BIN(p), "c");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  g_object_set(src, "location", j.input.c_str(), nullptr);
  if (!o.model.empty()) g_object_set(c, "model", o.model.c_str(), nullptr);
  std::error_code ec;
  fs::remove_all(j.part, ec);
  if (j.folder) {
    fs::create_directories(j.part, ec);
    g_object_set(sink, "location", (j.part / "frame-%05d.png").c_str(), nullptr);
  } else {
    g_object_set(sink, "location", j.part.c_str(), nullptr);
  }
  GstPad* pad = gst_element_get_static_pad(c, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_frame, &j, nullptr);
  gst_object_unref(pad);
  gst_object_unref(src);
  gst_object_unref(c);
  gst_object_unref(sink);
  GstBus* bus = gst_element_get_bus(p);
  gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus, new std::pair<Batch*, Job*>(&b, &j),
                         [](gpointer d) { delete static_cast<std::pair<Batch*, Job*>*>(d); });
  gst_object_unref(bus);
  j.pipeline = p;
  // A failure (e.g. the model's) posts its error on the bus; on_bus reports it.
  gst_element_set_state(p, GST_STATE_PLAYING);
  return true;
}

void finish(Batch& b, Job& j, bool ok, const std::string& error) {
  if (j.done) return;
  j.done = true;
  gst_element_set_state(j.pipeline, GST_STATE_NULL);
  gst_object_unref(j.pipeline);
  j.pipeline = nullptr;
  std::error_code ec;
  if (ok) {
    if (j.folder) {
      for (const auto& e : fs::directory_iterator(j.part, ec)) fsync_path(e.path());
    }
    fsync_path(j.part);
    fs::remove_all(j.output, ec);
    fs::rename(j.part, j.output, ec);
    if (ec) {
      ok = false;
      j.error = "could not rename " + j.part.string() + ": " + ec.message();
    }
  } else {
    j.error = error;
  }
  if (!ok) {
    fs::remove_all(j.part, ec);
    j.failed = true;
    ++b.failed;
    std::fprintf(stderr, "%scosal-batch: %s: %s\n", b.tty ? "\n" : "", j.input.c_str(),
                 j.error.c_str());
  }
  b.frames_done_finished += j.frames;
  ++b.finished;
  --b.running;
  start_next(b);
}

void start_next(Batch& b) {
  while (b.running < b.opt.jobs && b.next < b.jobs.size()) {
    Job& j = *b.jobs[b.next++];
    ++b.running;
    if (!start(b, j)) {
      j.done = j.failed = true;
      ++b.failed;
      ++b.finished;
      --b.running;
      std::fprintf(stderr, "cosal-batch: %s: %s\n", j.input.c_str(), j.error.c_str());
    }
  }
  if (b.running == 0 && b.next >= b.jobs.size()) g_main_loop_quit(b.loop);
}

std::string clock_str(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// frames done, fps, and the ETA from each running file's position/duration.
gboolean progress(gpointer data) {
  Batch& b = *static_cast<Batch*>(data);
  guint64 frames = b.frames_done_finished;
  double remaining_frames = 0, known_total = 0;
  int known = 0;
  for (const auto& jp : b.jobs) {
    Job& j = *jp;
    if (j.done || !j.pipeline) continue;
    const guint64 f = j.frames.load();
    frames += f;
    gint64 pos = 0, dur = 0;
    if (f > 0 && gst_element_query_position(j.pipeline, GST_FORMAT_TIME, &pos) &&
        gst_element_query_duration(j.pipeline, GST_FORMAT_TIME, &dur) && pos > 0 && dur > 0) {
      const double total = static_cast<double>(f) * dur / pos;
      remaining_frames += std::max(0.0, total - f);
      known_total += total;
      ++known;
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - b.start).count();
  const double fps = elapsed > 0 ? frames / elapsed : 0;
  // Files not started yet: assume the average length seen so far.
  const int finished_ok = b.finished - b.failed - b.skipped;
  double avg = known ? known_total / known : 0;
  if (finished_ok > 0 && b.frames_done_finished > 0)
    avg = std::max(avg, static_cast<double>(b.frames_done_finished) / finished_ok);
  remaining_frames += avg * static_cast<double>(b.jobs.size() - b.next);
  const double eta = fps > 0 && (known || finished_ok) ? remaining_frames / fps : -1;
  std::fprintf(stderr, "%s[%d/%zu files] %llu frames, %.1f fps, ETA %s%s", b.tty ? "\r" : "",
               b.finished, b.jobs.size(), static_cast<unsigned long long>(frames), fps,
               clock_str(eta).c_str(), b.tty ? "   " : "\n");
  std::fflush(stderr);
  return G_SOURCE_CONTINUE;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [-o DIR] [--output mask|cutout] [--format mkv|webm|png] [-j N]\n"
               "          [--model PATH] [--device DEV] [--set PROP=VAL] [--force] INPUT...\n"
               "INPUT: video file, folder of videos, or @LIST (one path per line)\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  Batch b;
  Options& o = b.opt;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cosal-batch: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-o" || a == "--out")
      o.out = value("-o");
    else if (a == "--output")
      o.output = value("--output");
    else if (a == "--format")
      o.format = value("--format");
    else if (a == "-j" || a == "--jobs")
      o.jobs = std::atoi(value("-j").c_str());
    else if (a == "--model")
      o.model = value("--model");
    else if (a == "--device")
      o.device = value("--device");
    else if (a == "--set")
      o.props.push_back(value("--set"));
    else if (a == "--force")
      o.force = true;
    else if (a == "-h" || a == "--help")
      return usage(argv[0]), 0;
    else if (!a.empty() && a[0] == '-')
      return usage(argv[0]);
    else if (!a.empty() && a[0] == '@') {
      std::ifstream list(a.substr(1));
      if (!list) {
        std::fprintf(stderr, "cosal-batch: cannot read list %s\n", a.c_str() + 1);
        return 2;
      }
      for (std::string line; std::getline(list, line);)
        if (!line.empty() && line[0] != '#') inputs.emplace_back(line);
    } else {
      inputs.emplace_back(a);
    }
  }
  if (inputs.empty()) return usage(argv[0]);
  if (o.output != "mask" && o.output != "cutout") return usage(argv[0]);
  if (o.format.empty()) o.format = "mkv";
  if (o.format != "mkv" && o.format != "png" && !(o.format == "webm" && o.output == "mask")) {
    std::fprintf(stderr, "cosal-batch: format %s is not available for %s\n", o.format.c_str(),
                 o.output.c_str());
    return 2;
  }
  if (!o.model.empty() && !fs::is_regular_file(o.model)) {
    std::fprintf(stderr, "cosal-batch: model file not found: %s\n", o.model.c_str());
    return 2;
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.jobs <= 0) o.jobs = std::max(1, cores / 2);
  // LibTorch's intra-op threads are process-wide: share the cores among the jobs.
  o.props.push_back("threads=" + std::to_string(std::max(1, cores / o.jobs)));

  std::vector<fs::path> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.is_regular_file() && is_video(e.path())) found.push_back(e.path());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in, ec)) {
      files.push_back(in);
    } else {
      std::fprintf(stderr, "cosal-batch: not found: %s\n", in.c_str());
      ++b.failed;
    }
  }
  std::error_code ec;
  fs::create_directories(o.out, ec);
  const std::string suffix = o.output == "cutout" ? "-cutout" : "-mask";
  const std::string ext = o.format == "png" ? "" : "." + o.format;
  std::vector<fs::path> seen_inputs, seen_outputs;
  for (const auto& f : files) {
    const fs::path canonical = fs::weakly_canonical(f, ec);
    if (std::find(seen_inputs.begin(), seen_inputs.end(), canonical) != seen_inputs.end()) continue;
    seen_inputs.push_back(canonical);
    auto j = std::make_unique<Job>();
    j->input = f;
    j->output = o.out / (f.stem().string() + suffix + ext);
    j->part = j->output.string() + ".part";
    if (std::find(seen_outputs.begin(), seen_outputs.end(), j->output) != seen_outputs.end()) {
      std::fprintf(stderr, "cosal-batch: %s: another input already writes %s\n", f.c_str(),
                   j->output.c_str());
      ++b.failed;
      continue;
    }
    seen_outputs.push_back(j->output);
    if (!o.force && fs::exists(j->output)) {
      std::fprintf(stderr, "cosal-batch: %s exists, skipping (--force redoes it)\n",
                   j->output.c_str());
      ++b.skipped;
      continue;
    }
    b.jobs.push_back(std::move(j));
  }
  b.loop = g_main_loop_new(nullptr, FALSE);
  b.start = std::chrono::steady_clock::now();
  if (!b.jobs.empty()) {
    std::fprintf(stderr, "cosal-batch: %zu file(s), %d at once -> %s\n", b.jobs.size(), o.jobs,
                 o.out.c_str());
    const guint timer = g_timeout_add(b.tty ? 500 : 2000, progress, &b);
    start_next(b);
    if (b.running > 0 || b.next < b.jobs.size()) g_main_loop_run(b.loop);
    g_source_remove(timer);
    progress(&b);
    if (b.tty) std::fprintf(stderr, "\n");
  }
  g_main_loop_unref(b.loop);
  int written = 0;
  for (const auto& j : b.jobs) written += j->done && !j->failed;
  std::fprintf(stderr, "cosal-batch: %d written, %d skipped, %d failed\n", written, b.skipped,
               b.failed);
  return b.failed ? 1 : 0;
}
