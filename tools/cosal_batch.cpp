// cosal-batch: cut-outs or mask videos for many videos, several at once, on
// one machine or as the shards of a job array (Slurm, a Kubernetes Indexed
// Job). `cosal-batch --help` lists the options; the description below it
// says how sharding, restarts and the exit status work.
#include <fcntl.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "batch_core.h"
#include "progress.h"
#include "sync_dir.h"
#include "video_encoders.h"

namespace fs = std::filesystem;
namespace cb = cosal::batch;

namespace {

const char* const kDescription =
    "INPUT is a video file, a folder (its videos, not recursive) or @LIST (a text\n"
    "file with one path per line). Outputs are <input name>-mask.<ext> or\n"
    "<input name>-cutout.<ext> (folders for png) in --out; each is written under a\n"
    ".part name and renamed when complete.\n"
    "\n"
    "Restarts: a record of each complete output is kept in <out>/.cosal-batch/outputs/;\n"
    "a rerun skips outputs whose record matches the input and the output (size,\n"
    "mtime), redoes the rest and removes .part leftovers. An output that is there\n"
    "without a record is not overwritten (--force redoes it).\n"
    "\n"
    "Shards: the inputs are sorted by path and shard I of N takes every input k\n"
    "with k mod N = I, so every input belongs to exactly one shard. Without\n"
    "--shard, a Slurm array task is shard (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN)\n"
    "/ SLURM_ARRAY_TASK_STEP of SLURM_ARRAY_TASK_COUNT; with --shard-count N (or\n"
    "COSAL_SHARD_COUNT=N) the task id itself is the shard, so `--array=1,3` reruns\n"
    "shards 1 and 3 of N; a Kubernetes Indexed Job's JOB_COMPLETION_INDEX is the\n"
    "shard and needs the count. Each shard writes <out>/.cosal-batch/shard-I-of-N.json;\n"
    "--report OUT merges them (every input counted once, from its newest summary).\n"
    "\n"
    "Threads: -j defaults to CPUs / 2 and LibTorch's (process-wide) threads to\n"
    "CPUs / jobs, where CPUs is SLURM_CPUS_PER_TASK inside a Slurm job, else the\n"
    "CPUs this process may run on; --set threads=N overrides.\n"
    "\n"
    "Exit status: 0 all inputs complete, 1 some failed (or the run was\n"
    "interrupted), 2 usage error.";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "cosal-batch: %s\n", msg.c_str());
  return 2;
}

struct Options {
  fs::path out = ".";
  std::string output = "mask";
  std::string format = "mkv";
  std::string model, device = "auto";
  // --set PROP=VAL, checked against the element's properties and parsed once.
  std::vector<std::pair<std::string, GValue>> props;
  cb::ThreadPlan plan;
  bool force = false;
};

struct Job {
  fs::path input, output, part, record;
  bool folder = false;  // png sequence
  GstElement* pipeline = nullptr;
  GstPad* video_sink = nullptr;    // videoconvert's sink, linked to decodebin's video pad
  std::atomic<guint64> frames{0};  // counted in the streaming thread
  std::atomic<gint64> end_ns{0};   // end of the last frame seen there
  bool started = false, done = false, failed = false;
  std::string error;
  std::chrono::steady_clock::time_point t0;
  double seconds = 0;
};

struct Batch {
  Options opt;
  cb::Shard shard;
  std::vector<std::unique_ptr<Job>> jobs;
  std::vector<cb::FileResult> results;  // skipped and failed-before-start ones
  size_t next = 0;
  int running = 0, finished = 0, failed = 0, skipped = 0, ok = 0;
  guint64 ok_frames = 0, other_frames = 0;  // of completed files; of failed/interrupted ones
  std::chrono::steady_clock::time_point start;
  double start_unix = 0;
  GMainLoop* loop = nullptr;
  bool tty = isatty(STDERR_FILENO) != 0;
  bool interrupted = false;
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
  const int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What follows the element: the project's encoder fragment for the format
// (common/video_encoders.h, fixed strings, no user value in them) and the
// sink, or an image encoder and a file-per-frame sink.
struct Step {
  const char* factory;   // an element, or nullptr for `fragment`
  const char* fragment;  // a bin description from video_encoders.h
  const char* caps = nullptr;
};
std::vector<Step> encoder(const Options& o) {
  const bool png = o.format == "png";
  if (png) {
    std::vector<Step> s;
    if (o.output == "cutout") {
      s.push_back({"videoconvert", nullptr});
      s.push_back({"capsfilter", nullptr, "video/x-raw,format=RGBA"});
    }
    s.push_back({"pngenc", nullptr});
    s.push_back({"multifilesink", nullptr});
    return s;
  }
  const cosal::VideoEncoder& enc = o.output == "cutout" ? cosal::kMkvBgraCutout
                                   : o.format == "webm" ? cosal::kWebmVp8
                                                        : cosal::kMkvGrayMask;
  return {{nullptr, enc.pipeline}, {"filesink", nullptr}};
}

void finish(Batch& b, Job& j, bool ok, const std::string& error);

gboolean on_bus(GstBus*, GstMessage* m, gpointer data) {
  auto* pair = static_cast<std::pair<Batch*, Job*>*>(data);
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
    Job& j = *pair->second;
    gint64 dur = 0;
    if (gst_element_query_duration(j.pipeline, GST_FORMAT_TIME, &dur) &&
        cb::looks_truncated(j.end_ns.load(), dur)) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "truncated? decoded %.2f s of the %.2f s the file states",
                    j.end_ns.load() / 1e9, dur / 1e9);
      finish(*pair->first, j, false, msg);
    } else {
      finish(*pair->first, j, true, "");
    }
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

GstPadProbeReturn count_frame(GstPad*, GstPadProbeInfo* info, gpointer data) {
  Job& j = *static_cast<Job*>(data);
  j.frames++;
  const GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (GST_BUFFER_PTS_IS_VALID(buf)) {
    const GstClockTime end =
        GST_BUFFER_PTS(buf) + (GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) : 0);
    j.end_ns = std::max<gint64>(j.end_ns.load(), static_cast<gint64>(end));
  }
  return GST_PAD_PROBE_OK;
}

// decodebin's first video stream goes to videoconvert; other streams are
// left unlinked (decodebin drops them).
void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  Job& j = *static_cast<Job*>(data);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const bool video =
      caps && gst_caps_get_size(caps) > 0 &&
      g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/");
  if (caps) gst_caps_unref(caps);
  if (video && !gst_pad_is_linked(j.video_sink)) gst_pad_link(pad, j.video_sink);
}

void on_no_more_pads(GstElement* dec, gpointer data) {
  Job& j = *static_cast<Job*>(data);
  if (gst_pad_is_linked(j.video_sink)) return;
  GError* err = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE,
                                    "no video stream in the file");
  gst_element_post_message(dec, gst_message_new_error(GST_OBJECT(dec), err, nullptr));
  g_error_free(err);
}

void start_next(Batch& b);

bool start(Batch& b, Job& j) {
  const Options& o = b.opt;
  GstElement* p = gst_pipeline_new(nullptr);
  std::vector<GstElement*> chain;
  auto make = [&](const char* factory) {
    GstElement* e = gst_element_factory_make(factory, nullptr);
    if (!e) {
      j.error = std::string("GStreamer element ") + factory + " is not installed";
      return static_cast<GstElement*>(nullptr);
    }
    gst_bin_add(GST_BIN(p), e);
    return e;
  };
  GstElement* src = make("filesrc");
  GstElement* dec = src ? make("decodebin") : nullptr;
  GstElement* conv = dec ? make("videoconvert") : nullptr;
  GstElement* c = conv ? make("cosaliency") : nullptr;
  if (!c) {
    gst_object_unref(p);
    return false;
  }
  chain = {conv, c};
  GstElement* sink = nullptr;
  for (const Step& s : encoder(o)) {
    GstElement* e = nullptr;
    if (s.fragment) {
      GError* err = nullptr;
      e = gst_parse_bin_from_description(s.fragment, TRUE, &err);
      if (!e) {
        j.error = std::string("cannot make the encoder: ") + (err ? err->message : s.fragment);
        if (err) g_error_free(err);
      } else {
        gst_bin_add(GST_BIN(p), e);
      }
    } else {
      e = make(s.factory);
    }
    if (!e) {
      gst_object_unref(p);
      return false;
    }
    if (s.caps) gst_util_set_object_arg(G_OBJECT(e), "caps", s.caps);
    chain.push_back(e);
    sink = e;
  }
  g_object_set(src, "location", j.input.c_str(), nullptr);
  // Values are set as values, never pasted into a pipeline description.
  g_object_set(c, "device", o.device.c_str(), nullptr);
  gst_util_set_object_arg(G_OBJECT(c), "output", o.output == "cutout" ? "alpha" : "mask");
  if (!o.model.empty()) g_object_set(c, "model", o.model.c_str(), nullptr);
  if (!o.plan.user_threads) g_object_set(c, "threads", static_cast<guint>(o.plan.threads), nullptr);
  for (const auto& [name, value] : o.props)
    g_object_set_property(G_OBJECT(c), name.c_str(), &value);
  if (!gst_element_link(src, dec)) {
    j.error = "could not link filesrc to decodebin";
    gst_object_unref(p);
    return false;
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!gst_element_link(chain[i], chain[i + 1])) {
      j.error = std::string("could not link ") + GST_ELEMENT_NAME(chain[i]) + " to " +
                GST_ELEMENT_NAME(chain[i + 1]);
      gst_object_unref(p);
      return false;
    }
  }
  j.video_sink = gst_element_get_static_pad(conv, "sink");
  g_signal_connect(dec, "pad-added", G_CALLBACK(on_pad_added), &j);
  g_signal_connect(dec, "no-more-pads", G_CALLBACK(on_no_more_pads), &j);
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
  GstBus* bus = gst_element_get_bus(p);
  gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus, new std::pair<Batch*, Job*>(&b, &j),
                         [](gpointer d) { delete static_cast<std::pair<Batch*, Job*>*>(d); });
  gst_object_unref(bus);
  j.pipeline = p;
  j.started = true;
  j.t0 = std::chrono::steady_clock::now();
  // A failure (e.g. the model's) posts its error on the bus; on_bus reports it.
  gst_element_set_state(p, GST_STATE_PLAYING);
  return true;
}

void stop_pipeline(Job& j) {
  gst_element_set_state(j.pipeline, GST_STATE_NULL);
  GstBus* bus = gst_element_get_bus(j.pipeline);
  gst_bus_remove_watch(bus);
  gst_object_unref(bus);
  gst_object_unref(j.pipeline);
  j.pipeline = nullptr;
  if (j.video_sink) gst_object_unref(j.video_sink);
  j.video_sink = nullptr;
  j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - j.t0).count();
}

// The record goes in before the rename: a present output then always has a
// record of itself, even when the process dies between the two steps.
bool commit(Batch& b, Job& j, std::string* error) {
  std::error_code ec;
  if (j.folder) {
    for (const auto& e : fs::directory_iterator(j.part, ec)) fsync_path(e.path());
  }
  fsync_path(j.part);
  cb::Record r;
  r.input = fs::weakly_canonical(j.input, ec).string();
  r.output = j.output.filename().string();
  r.input_stamp = cb::stamp(j.input);
  r.output_stamp = cb::stamp(j.part);
  r.frames = static_cast<int64_t>(j.frames.load());
  fs::create_directories(j.record.parent_path(), ec);
  if (!cb::write_atomic(j.record, to_json(r).dump(1) + "\n", error)) return false;
  // A file replaces the old output atomically; a png folder cannot.
  if (j.folder) fs::remove_all(j.output, ec);
  fs::rename(j.part, j.output, ec);
  if (ec) {
    *error = "could not rename " + j.part.string() + ": " + ec.message();
    return false;
  }
  cosal::sync_dir(b.opt.out.string());
  return true;
}

void finish(Batch& b, Job& j, bool ok, const std::string& error) {
  if (j.done) return;
  j.done = true;
  stop_pipeline(j);
  if (ok && j.frames == 0) {
    ok = false;
    j.error = "no video frames decoded";
  } else if (ok) {
    ok = commit(b, j, &j.error);
  } else {
    j.error = error;
  }
  if (ok) {
    ++b.ok;
    b.ok_frames += j.frames;
  } else {
    std::error_code ec;
    fs::remove_all(j.part, ec);
    j.failed = true;
    ++b.failed;
    b.other_frames += j.frames;
    std::fprintf(stderr, "%scosal-batch: %s: %s\n", b.tty ? "\n" : "", j.input.c_str(),
                 j.error.c_str());
  }
  ++b.finished;
  --b.running;
  start_next(b);
}

void start_next(Batch& b) {
  while (!b.interrupted && b.running < b.opt.plan.jobs && b.next < b.jobs.size()) {
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
  if (b.running == 0 && (b.interrupted || b.next >= b.jobs.size())) g_main_loop_quit(b.loop);
}

// SIGTERM (scancel, a node drain) or SIGINT: stop the running files, remove
// their .part files and still write the summary; a rerun redoes them.
gboolean on_signal(gpointer data) {
  Batch& b = *static_cast<Batch*>(data);
  b.interrupted = true;
  for (const auto& jp : b.jobs) {
    Job& j = *jp;
    if (!j.pipeline || j.done) continue;
    j.done = j.failed = true;
    stop_pipeline(j);
    std::error_code ec;
    fs::remove_all(j.part, ec);
    j.error = "interrupted";
    b.other_frames += j.frames;
    --b.running;
  }
  std::fprintf(stderr, "%scosal-batch: interrupted\n", b.tty ? "\n" : "");
  g_main_loop_quit(b.loop);
  return G_SOURCE_CONTINUE;
}

cb::EtaInput eta_input(const Batch& b, guint64* frames) {
  cb::EtaInput in;
  in.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - b.start).count();
  in.ok_frames = b.ok_frames;
  in.ok_files = b.ok;
  in.pending_files = b.jobs.size() - b.next;
  guint64 total = b.ok_frames + b.other_frames;
  for (const auto& jp : b.jobs) {
    const Job& j = *jp;
    if (j.done || !j.pipeline) continue;
    cb::RunningFile r;
    r.frames = j.frames.load();
    total += r.frames;
    gint64 pos = 0, dur = 0;
    if (r.frames > 0 && gst_element_query_position(j.pipeline, GST_FORMAT_TIME, &pos) &&
        gst_element_query_duration(j.pipeline, GST_FORMAT_TIME, &dur) && pos > 0 && dur > 0)
      r.total_estimate = static_cast<double>(r.frames) * static_cast<double>(dur) / pos;
    in.running.push_back(r);
  }
  in.frames = total;
  *frames = total;
  return in;
}

// One line: files, frames, fps and the ETA. cosal::Progress needs its total
// up front; here the total frames are only estimated as files start, so the
// line is drawn here, with the shared duration format.
gboolean progress(gpointer data) {
  Batch& b = *static_cast<Batch*>(data);
  guint64 frames = 0;
  const cb::EtaInput in = eta_input(b, &frames);
  const double fps = in.elapsed_s > 0 ? frames / in.elapsed_s : 0;
  const double eta = cb::eta_seconds(in);
  std::fprintf(stderr, "%s[%d/%zu files] %llu frames, %.1f fps, ETA %s%s", b.tty ? "\r" : "",
               b.finished, b.jobs.size(), static_cast<unsigned long long>(frames), fps,
               eta < 0 ? "?" : cosal::format_duration(eta).c_str(), b.tty ? "   " : "\n");
  std::fflush(stderr);
  return G_SOURCE_CONTINUE;
}

bool write_summary(const Batch& b) {
  cb::Summary s;
  s.shard = b.shard;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  s.host = host;
  s.started_unix = b.start_unix;
  s.finished_unix = now_unix();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - b.start).count();
  s.interrupted = b.interrupted;
  s.files = b.results;
  std::error_code ec;
  for (const auto& jp : b.jobs) {
    const Job& j = *jp;
    if (!j.done) continue;  // not started before an interruption
    cb::FileResult f;
    f.input = fs::weakly_canonical(j.input, ec).string();
    f.output = fs::weakly_canonical(j.output, ec).string();
    f.status = !j.failed ? "done" : j.error == "interrupted" ? "interrupted" : "failed";
    f.frames = static_cast<int64_t>(j.frames.load());
    f.seconds = j.seconds;
    f.error = j.failed ? j.error : "";
    s.frames += j.frames.load();
    s.files.push_back(f);
  }
  std::sort(s.files.begin(), s.files.end(),
            [](const cb::FileResult& x, const cb::FileResult& y) { return x.input < y.input; });
  const fs::path dir = cb::state_dir(b.opt.out);
  fs::create_directories(dir, ec);
  std::string error;
  if (!cb::write_atomic(dir / cb::summary_name(b.shard), to_json(s).dump(1) + "\n", &error)) {
    std::fprintf(stderr, "cosal-batch: %s\n", error.c_str());
    return false;
  }
  return true;
}

// Checks each --set PROP=VAL against the element and parses VAL for the
// property's type, so a typo is a usage error, not a failure per file.
bool parse_props(char** sets, Options* o, std::string* error) {
  if (!sets || !*sets) return true;
  GstElement* probe = gst_element_factory_make("cosaliency", nullptr);
  if (!probe) {
    *error = "the cosaliency element is not installed (set GST_PLUGIN_PATH?)";
    return false;
  }
  bool ok = true;
  for (char** s = sets; *s && ok; ++s) {
    const std::string arg = *s;
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--set wants PROP=VALUE, not '" + arg + "'";
      ok = false;
      break;
    }
    const std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
    GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(probe), name.c_str());
    if (!spec || !(spec->flags & G_PARAM_WRITABLE)) {
      *error = "--set " + arg + ": cosaliency has no writable property '" + name +
               "' (gst-inspect-1.0 cosaliency lists them)";
      ok = false;
      break;
    }
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(spec));
    if (!gst_value_deserialize_with_pspec(&v, value.c_str(), spec) ||
        g_param_value_validate(spec, &v)) {
      *error = "--set " + arg + ": '" + value + "' is not a valid " +
               g_type_name(G_PARAM_SPEC_VALUE_TYPE(spec)) + " for " + name;
      g_value_unset(&v);
      ok = false;
      break;
    }
    if (name == "threads") o->plan.user_threads = true, o->plan.threads = g_value_get_uint(&v);
    o->props.emplace_back(name, v);
  }
  gst_object_unref(probe);
  return ok;
}

int report(const fs::path& dir, bool json) {
  cb::Report r;
  std::string error;
  if (!cb::merge_reports(dir, &r, &error)) return usage_error(error);
  if (json)
    std::printf("%s\n", to_json(r).dump(1).c_str());
  else
    std::fputs(cb::format_report(r).c_str(), stdout);
  return r.failed ? 1 : 0;
}

// Expands folders and @LISTs; missing inputs are reported into `missing`.
bool collect(char** args, std::vector<fs::path>* files, std::vector<fs::path>* missing,
             std::string* error) {
  std::vector<fs::path> inputs;
  for (char** a = args; a && *a; ++a) {
    const std::string s = *a;
    if (!s.empty() && s[0] == '@') {
      std::ifstream list(s.substr(1));
      if (!list) {
        *error = "cannot read list " + s.substr(1);
        return false;
      }
      for (std::string line; std::getline(list, line);)
        if (!line.empty() && line[0] != '#') inputs.emplace_back(line);
    } else {
      inputs.emplace_back(s);
    }
  }
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.is_regular_file() && is_video(e.path())) files->push_back(e.path());
    } else if (fs::is_regular_file(in, ec)) {
      files->push_back(in);
    } else {
      missing->push_back(in);
    }
  }
  // Every shard must see the same list in the same order.
  std::sort(files->begin(), files->end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gchar *out = nullptr, *output = nullptr, *format = nullptr, *model = nullptr, *device = nullptr,
        *shard = nullptr, *report_dir = nullptr;
  gchar **sets = nullptr, **rest = nullptr;
  gint jobs = 0, shard_count = 0;
  gboolean force = FALSE, json = FALSE;
  const GOptionEntry entries[] = {
      {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output folder (default: the current folder)",
       "DIR"},
      {"output", 0, 0, G_OPTION_ARG_STRING, &output, "mask (default) or cutout", "KIND"},
      {"format", 0, 0, G_OPTION_ARG_STRING, &format,
       "mask: mkv (lossless FFV1, default), webm (VP8), png; cutout: mkv (FFV1 BGRA), png", "FMT"},
      {"jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "Files processed at once (default: CPUs / 2)", "N"},
      {"model", 0, 0, G_OPTION_ARG_FILENAME, &model,
       "Weights file (default: the element's default model)", "PATH"},
      {"device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu, cuda or cuda:N", "DEV"},
      {"set", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sets,
       "Another cosaliency property (repeatable), e.g. threads=2", "PROP=VAL"},
      {"force", 0, 0, G_OPTION_ARG_NONE, &force, "Redo outputs that already exist", nullptr},
      {"shard", 0, 0, G_OPTION_ARG_STRING, &shard,
       "Process shard I of N of the sorted inputs (default: from the job array)", "I/N"},
      {"shard-count", 0, 0, G_OPTION_ARG_INT, &shard_count,
       "Number of shards when the array task id is the shard (JOB_COMPLETION_INDEX, a "
       "partial --array)",
       "N"},
      {"report", 0, 0, G_OPTION_ARG_FILENAME, &report_dir,
       "Merge the shard summaries in DIR (an output folder) into one table", "DIR"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "With --report: print JSON", nullptr},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, nullptr, nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("INPUT... | --report DIR");
  g_option_context_set_summary(
      ctx, "Cut-outs or mask videos for many videos with the cosaliency element.");
  g_option_context_set_description(ctx, kDescription);
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* perr = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &perr);
  g_option_context_free(ctx);
  if (!parsed) {
    const std::string msg = perr ? perr->message : "bad arguments";
    if (perr) g_error_free(perr);
    return usage_error(msg + " (--help lists the options)");
  }
  auto str = [](gchar* s, const char* dflt) { return std::string(s ? s : dflt); };
  if (report_dir) {
    if (rest) return usage_error("--report takes no inputs");
    return report(report_dir, json);
  }
  if (json) return usage_error("--json goes with --report");

  Batch b;
  Options& o = b.opt;
  o.out = str(out, ".");
  o.output = str(output, "mask");
  o.format = str(format, "mkv");
  o.model = str(model, "");
  o.device = str(device, "auto");
  o.force = force;
  if (!rest) return usage_error("no inputs (--help lists the options)");
  if (o.output != "mask" && o.output != "cutout")
    return usage_error("--output is mask or cutout, not " + o.output);
  if (o.format != "mkv" && o.format != "png" && !(o.format == "webm" && o.output == "mask"))
    return usage_error("format " + o.format + " is not available for " + o.output);
  if (!o.model.empty() && !fs::is_regular_file(o.model))
    return usage_error("model file not found: " + o.model);
  if (jobs < 0) return usage_error("--jobs must be positive");
  std::string error;
  if (shard) {
    if (shard_count) return usage_error("--shard and --shard-count do not go together");
    if (!cb::parse_shard(shard, &b.shard, &error)) return usage_error(error);
  } else if (!cb::shard_from_env(cb::real_env, shard_count, &b.shard, &error)) {
    return usage_error(error);
  }
  if (!parse_props(sets, &o, &error)) return usage_error(error);
  const int user_threads = o.plan.user_threads ? o.plan.threads : -1;
  o.plan = cb::plan_threads(cb::available_cpus(cb::real_env), jobs, user_threads);

  std::vector<fs::path> files, missing;
  if (!collect(rest, &files, &missing, &error)) return usage_error(error);
  for (const auto& m : missing) {
    std::fprintf(stderr, "cosal-batch: not found: %s\n", m.c_str());
    ++b.failed;
    b.results.push_back({m.string(), "", "failed", -1, 0, "not found"});
  }
  std::error_code ec;
  fs::create_directories(o.out, ec);
  const std::string suffix = o.output == "cutout" ? "-cutout" : "-mask";
  const std::string ext = o.format == "png" ? "" : "." + o.format;
  std::vector<fs::path> seen_inputs, seen_outputs;
  size_t k = 0;  // position in the deduplicated list that every shard sees
  for (const auto& f : files) {
    const fs::path canonical = fs::weakly_canonical(f, ec);
    if (std::find(seen_inputs.begin(), seen_inputs.end(), canonical) != seen_inputs.end()) continue;
    seen_inputs.push_back(canonical);
    const bool mine = cb::in_shard(k++, b.shard);
    auto j = std::make_unique<Job>();
    j->input = f;
    j->output = o.out / (f.stem().string() + suffix + ext);
    j->part = j->output.string() + ".part";
    j->record = cb::record_path(o.out, j->output);
    j->folder = o.format == "png";
    const bool clash =
        std::find(seen_outputs.begin(), seen_outputs.end(), j->output) != seen_outputs.end();
    seen_outputs.push_back(j->output);
    if (!mine) continue;
    if (clash) {
      j->error = "another input already writes " + j->output.string();
      std::fprintf(stderr, "cosal-batch: %s: %s\n", f.c_str(), j->error.c_str());
      ++b.failed;
      b.results.push_back({canonical.string(), j->output.string(), "failed", -1, 0, j->error});
      continue;
    }
    cb::Record rec;
    const cb::OutputState state =
        o.force ? cb::OutputState::Missing : cb::check_output(f, j->output, j->record, &rec);
    if (state == cb::OutputState::Complete || state == cb::OutputState::Unrecorded) {
      if (state == cb::OutputState::Unrecorded)
        std::fprintf(stderr, "cosal-batch: %s exists, skipping (--force redoes it)\n",
                     j->output.c_str());
      ++b.skipped;
      b.results.push_back({canonical.string(), j->output.string(), "skipped",
                           state == cb::OutputState::Complete ? rec.frames : -1, 0, ""});
      fs::remove_all(j->part, ec);  // a leftover of an interrupted --force rerun
      continue;
    }
    if (state == cb::OutputState::Stale)
      std::fprintf(stderr,
                   "cosal-batch: %s does not match its record (input changed or rewrite "
                   "interrupted), redoing it\n",
                   j->output.c_str());
    b.jobs.push_back(std::move(j));
  }
  b.loop = g_main_loop_new(nullptr, FALSE);
  b.start = std::chrono::steady_clock::now();
  b.start_unix = now_unix();
  const guint sigterm = g_unix_signal_add(SIGTERM, on_signal, &b);
  const guint sigint = g_unix_signal_add(SIGINT, on_signal, &b);
  if (!b.jobs.empty()) {
    std::fprintf(stderr,
                 "cosal-batch: shard %ld/%ld (%s): %zu file(s), %d at once, %d thread(s)%s -> %s\n",
                 b.shard.index, b.shard.count, b.shard.source.c_str(), b.jobs.size(), o.plan.jobs,
                 o.plan.threads, o.plan.user_threads ? " (--set threads)" : "", o.out.c_str());
    const guint timer = g_timeout_add(b.tty ? 500 : 2000, progress, &b);
    start_next(b);
    if (b.running > 0 || (!b.interrupted && b.next < b.jobs.size())) g_main_loop_run(b.loop);
    g_source_remove(timer);
    progress(&b);
    if (b.tty) std::fprintf(stderr, "\n");
  }
  g_source_remove(sigterm);
  g_source_remove(sigint);
  g_main_loop_unref(b.loop);
  const bool summary_ok = write_summary(b);
  for (auto& [name, value] : o.props) g_value_unset(&value);
  std::fprintf(stderr, "cosal-batch: %d written, %d skipped, %d failed%s\n", b.ok, b.skipped,
               b.failed, b.interrupted ? ", interrupted" : "");
  return b.failed || b.interrupted || !summary_ok ? 1 : 0;
}
