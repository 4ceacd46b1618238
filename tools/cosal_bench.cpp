// cosal-bench: how fast the co-saliency network and the cosaliency element
// run on this machine, in one run: the model's parts per frame, the group
// strategies (this project's streaming/window scheduling against recomputing
// every window and against single images), the element in a real pipeline at
// several frame sizes, and peak memory. Prints a table; --json writes it all
// (never over an existing file unless --force).
#include <gst/gst.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_stats.h"
#include "element_bench.h"
#include "engine.h"
#include "model_bench.h"
#include "synthetic_frames.h"

namespace {

using cosal::bench::Summary;
using nlohmann::json;

struct Size {
  int width = 0, height = 0;
};

struct Options {
  std::string model;
  std::string json_path;
  std::string device = "cpu";  // checked by Model::acquire, the parser the element uses too
  int threads = 0;
  int frames = 60;
  int runs = 30;
  int warmup = 5;
  std::vector<Size> sizes{{854, 480}, {1280, 720}, {1920, 1080}};
  std::vector<int> windows{1, 5, 15, 30};
  std::vector<std::string> modes{"streaming", "window"};
  std::string format = "I420";
  std::string output = "alpha";
  std::string edge_refine = "none";
  int inference_size = 0;
  int refresh_interval = 8;
  bool skip_element = false;
  bool quick = false;
  bool force = false;  // --json may replace an existing file
  // The options given on the command line: --quick changes only the others.
  std::set<std::string> given;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi)
    throw std::invalid_argument(flag + ": expected an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got \"" + v + "\"");
  return static_cast<int>(n);
}

// Sets option `a` ("--runs") from its value `v` (empty for a flag).
// Throws std::invalid_argument with the message for the user.
void set_option(Options& o, const std::string& a, const std::string& v) {
  o.given.insert(a);
  if (a == "--skip-element") {
    o.skip_element = true;
  } else if (a == "--quick") {
    o.quick = true;
  } else if (a == "--force") {
    o.force = true;
  } else if (a == "--model") {
    o.model = v;
  } else if (a == "--json") {
    o.json_path = v;
  } else if (a == "--device") {
    o.device = v;
  } else if (a == "--threads") {
    o.threads = parse_int(a, v, 0, 1024);
  } else if (a == "--frames") {
    o.frames = parse_int(a, v, 1, 100000);
  } else if (a == "--runs") {
    o.runs = parse_int(a, v, 1, 100000);
  } else if (a == "--warmup") {
    o.warmup = parse_int(a, v, 0, 100000);
  } else if (a == "--sizes") {
    o.sizes.clear();
    for (const auto& s : split(v)) {
      const auto x = s.find('x');
      if (x == std::string::npos) throw std::invalid_argument("--sizes: expected WxH, got " + s);
      o.sizes.push_back(
          {parse_int(a, s.substr(0, x), 16, 16384), parse_int(a, s.substr(x + 1), 16, 16384)});
    }
  } else if (a == "--windows") {
    o.windows.clear();
    for (const auto& s : split(v)) o.windows.push_back(parse_int(a, s, 1, 256));
  } else if (a == "--modes") {
    o.modes = split(v);
    for (const auto& m : o.modes)
      if (m != "streaming" && m != "window")
        throw std::invalid_argument("--modes: unknown mode " + m);
  } else if (a == "--format") {
    o.format = v;
  } else if (a == "--output") {
    if (v != "alpha" && v != "mask" && v != "meta")
      throw std::invalid_argument("--output: expected alpha, mask or meta");
    o.output = v;
  } else if (a == "--edge-refine") {
    if (v != "none" && v != "guided")
      throw std::invalid_argument("--edge-refine: expected none or guided");
    o.edge_refine = v;
  } else if (a == "--inference-size") {
    o.inference_size = parse_int(a, v, 0, 4096);
  } else if (a == "--refresh-interval") {
    o.refresh_interval = parse_int(a, v, 0, 1 << 20);
  } else {
    throw std::invalid_argument("unknown option " + a);  // an entry without a case above
  }
}

// GOptionContext hands every option to this callback, with the Options as
// the group's user data: one place validates values and records which
// options were given, which plain GOptionContext storage cannot tell.
gboolean on_option(const gchar* name, const gchar* value, gpointer data, GError** error) {
  try {
    set_option(*static_cast<Options*>(data), name, value ? value : "");
    return TRUE;
  } catch (const std::exception& e) {
    g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, e.what());
    return FALSE;
  }
}

// Fills `o` from the command line (GStreamer's own options included, which
// also initialises GStreamer). Throws std::invalid_argument for a usage error.
void parse_args(int argc, char** argv, Options& o) {
  // Values go to on_option unconverted (G_OPTION_FLAG_FILENAME): paths are
  // byte strings, and the rest is ASCII anyway.
  constexpr int kValue = G_OPTION_FLAG_FILENAME;
  constexpr int kFlag = G_OPTION_FLAG_NO_ARG;
  auto* cb = reinterpret_cast<gpointer>(&on_option);
  const GOptionEntry entries[] = {
      {"model", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Weights file (default: the installed default model, else a random "
       "mobilenet_v2/rcau 224x224 one)",
       "FILE"},
      {"device", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Model level's and element's device: cpu (default), auto (CUDA when available), cuda, "
       "cuda:N",
       "D"},
      {"json", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Also write every number as JSON (refuses an existing FILE)", "FILE"},
      {"force", 0, kFlag, G_OPTION_ARG_CALLBACK, cb, "Let --json replace an existing FILE",
       nullptr},
      {"threads", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "CPU inference threads, 0-1024 (default 0: the element's default, $OMP_NUM_THREADS or "
       "one per CPU)",
       "N"},
      {"frames", 0, kValue, G_OPTION_ARG_CALLBACK, cb, "Frames per element run (default 60)", "N"},
      {"runs", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Timed runs per model-level measurement (default 30)", "N"},
      {"warmup", 0, kValue, G_OPTION_ARG_CALLBACK, cb, "Untimed runs before them (default 5)", "N"},
      {"sizes", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element frame sizes, 16-16384 each side (default 854x480,1280x720,1920x1080)", "WxH,..."},
      {"windows", 0, kValue, G_OPTION_ARG_CALLBACK, cb, "Window sizes, 1-256 (default 1,5,15,30)",
       "N,..."},
      {"modes", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element modes: streaming, window (default both)", "M,..."},
      {"format", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element input format, any of its sink formats (default I420)", "F"},
      {"output", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element output: alpha, mask or meta (default alpha)", "O"},
      {"edge-refine", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element edge-refine: none or guided (default none)", "E"},
      {"inference-size", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element inference-size, 0-4096 (default 0: the model's native size)", "N"},
      {"refresh-interval", 0, kValue, G_OPTION_ARG_CALLBACK, cb,
       "Element refresh-interval (default 8)", "N"},
      {"skip-element", 0, kFlag, G_OPTION_ARG_CALLBACK, cb, "Model level only", nullptr},
      {"quick", 0, kFlag, G_OPTION_ARG_CALLBACK, cb,
       "Smoke test: 3 runs, 1 warm-up, 8 frames, 320x240, windows 1,5 (each unless given)",
       nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  // --help in the user's charset (GLib converts its text to it); numbers stay in
  // the C format that the printed tables and the parsers expect.
  setlocale(LC_ALL, "");
  setlocale(LC_NUMERIC, "C");
  GOptionContext* ctx = g_option_context_new("- how fast the network and the element run here");
  g_option_context_set_summary(
      ctx,
      "Times, in one run: the model's parts per frame; the group strategies (streaming\n"
      "and window mode against recomputing every window and against single images);\n"
      "the cosaliency element in a real pipeline at each --sizes, --modes and --windows;\n"
      "and peak memory. Prints a table with the machine, device and load average.");
  g_option_context_set_description(
      ctx,
      "The element runs first (appsrc ! cosaliency ! fakesink, synthetic frames), each\n"
      "next to a timing of the network alone, so what the element adds shows under the\n"
      "same load. docs/benchmark.md describes the method and every number.\n"
      "\n"
      "Examples:\n"
      "  cosal-bench --json bench.json\n"
      "  cosal-bench --quick --device cuda --sizes 1920x1080\n");
  GOptionGroup* group =
      g_option_group_new("cosal-bench", "cosal-bench options", "cosal-bench options", &o, nullptr);
  g_option_group_add_entries(group, entries);
  g_option_context_set_main_group(ctx, group);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* error = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  if (!parsed) {
    const std::string m = error->message;
    g_error_free(error);
    throw std::invalid_argument(m);
  }
  if (argc > 1) throw std::invalid_argument(std::string("unexpected argument '") + argv[1] + "'");
  if (o.quick) {  // smoke-test sizes, unless set explicitly
    if (!o.given.count("--runs")) o.runs = 3;
    if (!o.given.count("--warmup")) o.warmup = 1;
    if (!o.given.count("--frames")) o.frames = 8;
    if (!o.given.count("--sizes")) o.sizes = {{320, 240}};
    if (!o.given.count("--windows")) o.windows = {1, 5};
  }
  if (o.sizes.empty() || o.windows.empty() || o.modes.empty())
    throw std::invalid_argument("--sizes, --windows and --modes need at least one value");
}

json summary_json(const Summary& s) {
  return {{"n", s.n},        {"median_ms", s.median}, {"p95_ms", s.p95}, {"mean_ms", s.mean},
          {"min_ms", s.min}, {"max_ms", s.max},       {"fps", s.fps()}};
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Refuses an existing --json file without --force, and a folder that cannot
// hold it, before any timing: a benchmark takes minutes and must not end in
// a failed write or a silently replaced report.
void check_json_path(const Options& o) {
  if (o.json_path.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(o.json_path);
  if (fs::is_directory(path, ec)) throw std::runtime_error(o.json_path + ": is a folder");
  if (fs::exists(path, ec) && !o.force)
    throw std::runtime_error(o.json_path + ": exists; pass --force to overwrite it");
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error(o.json_path + ": folder " + dir.string() + " does not exist");
}

// Removes the generated model file however the run ends.
struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  }
};

int run(const Options& o) {
  const auto machine = cosal::bench::describe_machine();
  // 0 is the element's own default, so that model and element level run alike.
  cosal::set_cpu_threads(o.threads > 0 ? o.threads : cosal::default_cpu_threads());
  // The process-wide allocator setting an inference application makes
  // (engine.h); the library does not make it by itself.
  cosal::tune_malloc_for_inference();
  const double load_start = cosal::bench::load_average();

  // The model: the given file, the default one, or random weights (timings
  // do not depend on the weights' values, only on the architecture).
  TempFile generated;
  std::string model_path = o.model;
  bool random_weights = false;
  if (model_path.empty()) {
    model_path = cosal::Model::default_path();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(model_path, ec)) {
      generated.path = (std::filesystem::temp_directory_path() /
                        ("cosal-bench-" + std::to_string(::getpid()) + ".safetensors"))
                           .string();
      std::fprintf(stderr,
                   "cosal-bench: no default model at %s; timing a randomly initialised "
                   "mobilenet_v2/rcau 224x224 model\n",
                   model_path.c_str());
      cosal::write_random_model(generated.path, "mobilenet_v2", "rcau", 224);
      model_path = generated.path;
      random_weights = true;
    }
  }
  // Held for the whole run: the element's instances acquire the same file on
  // the same device and share this copy, already warm. An unknown or
  // unavailable device fails here, before any timing.
  std::string device_warning;
  const auto model = cosal::Model::acquire(model_path, o.device, &device_warning);
  if (!device_warning.empty())
    std::fprintf(stderr, "cosal-bench: device %s: %s\n", o.device.c_str(), device_warning.c_str());
  const cosal::ModelInfo& info = model->info();
  const int64_t rss_model = cosal::bench::rss_kib();

  // The element runs first, so the peak RSS after it is the element's own
  // (the model level's recompute baseline holds whole windows of features).
  // The shared model is warmed up first so its first frames are not timed cold.
  {
    const auto rgb = cosal::bench::synthetic_rgb(info.input_width, info.input_height, 0);
    const cosal::RgbView view{rgb.data(), info.input_width, info.input_height,
                              info.input_width * 3};
    std::vector<float> mask(static_cast<size_t>(info.input_width) * info.input_height);
    cosal::GroupState state;
    for (int i = 0; i < std::max(1, o.warmup); ++i) {
      const auto f = model->encode({view});
      model->update(state, f.at(0));
      model->decode(state, f.at(0), mask.data());
    }
  }
  std::vector<cosal::bench::ElementRun> runs;
  std::vector<cosal::bench::ElementParts> parts;
  std::vector<double> reference_ms;  // the network alone (median ms/frame), per element run
  if (!o.skip_element) {
    cosal::bench::ElementOptions eo;
    eo.model = model_path;
    eo.device = o.device;
    eo.format = o.format;
    eo.output = o.output;
    eo.edge_refine = o.edge_refine;
    eo.inference_size = o.inference_size;
    eo.refresh_interval = o.refresh_interval;
    eo.threads = o.threads;
    eo.frames = o.frames;
    eo.skip = std::min(5, o.frames / 4);
    for (const Size& s : o.sizes) {
      parts.push_back(cosal::bench::run_element_parts(o.format, s.width, s.height, info,
                                                      o.inference_size, o.runs, o.warmup));
      for (const auto& mode : o.modes)
        for (int w : o.windows) {
          // The network alone at the same inference size, just before and
          // after the run: what the element adds is the difference.
          const int ref_runs = std::max(3, std::min(10, o.frames / 4));
          const auto& part = parts.back();
          const Summary before = cosal::bench::time_whole_frames(*model, part.inference_width,
                                                                 part.inference_height, ref_runs);
          runs.push_back(cosal::bench::run_element(eo, s.width, s.height, mode, w));
          const Summary after = cosal::bench::time_whole_frames(*model, part.inference_width,
                                                                part.inference_height, ref_runs);
          reference_ms.push_back(0.5 * (before.median + after.median));
          std::fprintf(stderr, "  element %dx%d %s w=%d: %.1f fps\n", s.width, s.height,
                       mode.c_str(), w, runs.back().fps);
        }
    }
  }
  const double load_element_end = cosal::bench::load_average();
  const int64_t peak_element = cosal::bench::peak_rss_kib();

  cosal::bench::ModelBenchOptions mo;
  mo.runs = o.runs;
  mo.warmup = o.warmup;
  mo.windows = o.windows;
  mo.refresh_interval = o.refresh_interval;
  mo.progress = [](const std::string& what) {
    std::fprintf(stderr, "  model: %s\n", what.c_str());
  };
  const double load_model_start = cosal::bench::load_average();
  const auto mr = cosal::bench::run_model_bench(*model, mo);
  const double load_model_end = cosal::bench::load_average();
  const int64_t rss_after_model = cosal::bench::rss_kib();

  const double load_end = cosal::bench::load_average();
  const int64_t peak = cosal::bench::peak_rss_kib();

  // ---- table ----
  std::printf("cosal-bench  %s\n", utc_now().c_str());
  std::printf("machine: %s, %d cores; device %s; LibTorch %s (%d intra-op threads); GStreamer %s\n",
              machine.cpu.c_str(), machine.cores, model->device().c_str(), machine.libtorch.c_str(),
              cosal::cpu_threads(), machine.gstreamer.c_str());
  std::printf("load average (1 min): %.2f at start, %.2f after the element level, %.2f at end\n",
              load_start, load_element_end, load_end);
  std::printf("model: %s  %s/%s %dx%d%s\n\n", model_path.c_str(), info.backbone.c_str(),
              info.variant.c_str(), info.input_width, info.input_height,
              random_weights ? "  (random weights: same timings as trained)" : "");

  const auto& p = mr.parts;
  std::printf("Model level, per %dx%d frame (%d runs after %d warm-up)\n", p.width, p.height,
              o.runs, o.warmup);
  std::printf("  %-40s %9s %9s %9s\n", "part", "median ms", "p95 ms", "frames/s");
  auto row = [](const std::string& name, const Summary& s) {
    std::printf("  %-40s %9.2f %9.2f %9.1f\n", name.c_str(), s.median, s.p95, s.fps());
  };
  for (const auto& b : p.encode)
    row("backbone (encode), batch " + std::to_string(b.batch) + (b.batch > 1 ? ", per frame" : ""),
        b.per_frame);
  row("RCAU step (update)", p.update);
  row("decoder (decode)", p.decode);
  row("whole frame (encode+update+decode)", p.frame);
  row("single image (encode+decode)", mr.single);

  std::printf(
      "\nGroup strategies, model level, frames/s (mean over steady-state frames; "
      "refresh-interval %d; recompute encodes in batches of %d)\n",
      o.refresh_interval, mr.recompute_batch);
  std::printf("  %6s %10s %10s %10s %10s\n", "window", "streaming", "window", "recompute",
              "single");
  for (const auto& s : mr.strategies)
    std::printf("  %6d %10.1f %10.1f %10.1f %10.1f\n", s.window, s.streaming.fps(),
                s.window_mode.fps(), s.recompute.fps(), mr.single.fps());

  if (!o.skip_element) {
    std::printf(
        "\nElement: appsrc (%s) ! cosaliency output=%s edge-refine=%s device=%s ! fakesink "
        "sync=false, %d frames, latency sink->src pad\n",
        o.format.c_str(), o.output.c_str(), o.edge_refine.c_str(), o.device.c_str(), o.frames);
    std::printf(
        "  (ms/frame = 1000 / fps; cpu/frame = the process's CPU time per frame; network = "
        "encode+update+decode alone, timed next to the run; lat 1st = the first frame's)\n");
    std::printf("  %-10s %-9s %6s %7s %9s %9s %8s %9s %9s %9s %6s\n", "size", "mode", "window",
                "fps", "ms/frame", "cpu/frame", "network", "lat med", "lat p95", "lat 1st", "load");
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      std::printf("  %-10s %-9s %6d %7.1f %9.1f %9.1f %8.1f %9.1f %9.1f %9.1f %6.2f\n",
                  (std::to_string(r.width) + "x" + std::to_string(r.height)).c_str(),
                  r.mode.c_str(), r.window, r.fps, r.fps > 0 ? 1000.0 / r.fps : 0.0,
                  r.cpu_ms_per_frame, reference_ms[i], r.latency.median, r.latency.p95,
                  r.first_frame_ms, r.load_average);
    }
    std::printf(
        "\nElement work outside the network, median ms per frame (1 / 2 converter "
        "threads)\n");
    std::printf("  %-10s %-22s %-20s %12s\n", "size", "to RGB (inference)", "to RGBA (alpha out)",
                "mask upscale");
    for (const auto& e : parts) {
      char a[64], b[64];
      std::snprintf(a, sizeof a, "%.2f / %.2f (%dx%d)", e.to_rgb.median, e.to_rgb_threads.median,
                    e.inference_width, e.inference_height);
      if (e.to_out.n > 0)
        std::snprintf(b, sizeof b, "%.2f / %.2f", e.to_out.median, e.to_out_threads.median);
      else
        std::snprintf(b, sizeof b, "in place");
      std::printf("  %-10s %-22s %-20s %12.2f\n",
                  (std::to_string(e.width) + "x" + std::to_string(e.height)).c_str(), a, b,
                  e.upscale.median);
    }
  }
  std::printf(
      "\nmemory: peak RSS %.1f MiB; %.1f MiB after the element level; %.1f MiB after loading "
      "the model; weights %.1f MiB\n",
      peak / 1024.0, peak_element / 1024.0, rss_model / 1024.0, model->weight_bytes() / 1048576.0);

  // ---- JSON ----
  if (!o.json_path.empty()) {
    json j;
    j["tool"] = "cosal-bench";
    j["timestamp"] = utc_now();
    j["machine"] = {{"cpu", machine.cpu},
                    {"cores", machine.cores},
                    {"libtorch", machine.libtorch},
                    {"gstreamer", machine.gstreamer},
                    {"device", model->device()},
                    {"threads", cosal::cpu_threads()},
                    {"load_average",
                     {{"start", load_start},
                      {"element_level_end", load_element_end},
                      {"model_level_start", load_model_start},
                      {"model_level_end", load_model_end},
                      {"end", load_end}}}};
    j["model"] = {{"path", model_path},
                  {"backbone", info.backbone},
                  {"variant", info.variant},
                  {"input_width", info.input_width},
                  {"input_height", info.input_height},
                  {"random_weights", random_weights},
                  {"weight_bytes", model->weight_bytes()}};
    json sizes = json::array();
    for (const Size& s : o.sizes) sizes.push_back({s.width, s.height});
    j["config"] = {{"device", o.device},
                   {"runs", o.runs},
                   {"warmup", o.warmup},
                   {"frames", o.frames},
                   {"sizes", sizes},
                   {"windows", o.windows},
                   {"modes", o.modes},
                   {"format", o.format},
                   {"output", o.output},
                   {"edge_refine", o.edge_refine},
                   {"inference_size", o.inference_size},
                   {"refresh_interval", o.refresh_interval},
                   {"quick", o.quick},
                   {"skip_element", o.skip_element}};
    json enc = json::array();
    for (const auto& b : p.encode) {
      json e = summary_json(b.per_frame);
      e["batch"] = b.batch;
      enc.push_back(e);
    }
    j["model_level"] = {{"width", p.width},
                        {"height", p.height},
                        {"encode_per_frame", enc},
                        {"update", summary_json(p.update)},
                        {"decode", summary_json(p.decode)},
                        {"frame", summary_json(p.frame)}};
    json strategies = json::array();
    for (const auto& s : mr.strategies)
      strategies.push_back({{"window", s.window},
                            {"streaming", summary_json(s.streaming)},
                            {"window_mode", summary_json(s.window_mode)},
                            {"recompute", summary_json(s.recompute)}});
    j["baselines"] = {{"single", summary_json(mr.single)},
                      {"recompute_batch", mr.recompute_batch},
                      {"strategies", strategies}};
    json el = json::array();
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      el.push_back({{"width", r.width},
                    {"height", r.height},
                    {"mode", r.mode},
                    {"window", r.window},
                    {"frames", r.frames_out},
                    {"fps", r.fps},
                    {"latency", summary_json(r.latency)},
                    {"first_frame_ms", r.first_frame_ms},
                    {"element_mean_inference_ms", r.element_mean_inference_ms},
                    {"cpu_ms_per_frame", r.cpu_ms_per_frame},
                    {"load_average", r.load_average},
                    {"rss_kib_after", r.rss_kib_after},
                    {"network_frame_ms", reference_ms[i]}});
    }
    json ep = json::array();
    for (const auto& e : parts)
      ep.push_back({{"width", e.width},
                    {"height", e.height},
                    {"inference_width", e.inference_width},
                    {"inference_height", e.inference_height},
                    {"to_rgb", summary_json(e.to_rgb)},
                    {"to_rgb_2_threads", summary_json(e.to_rgb_threads)},
                    {"to_out", e.to_out.n ? summary_json(e.to_out) : json(nullptr)},
                    {"to_out_2_threads",
                     e.to_out_threads.n ? summary_json(e.to_out_threads) : json(nullptr)},
                    {"upscale", summary_json(e.upscale)}});
    j["element"] = {{"skipped", o.skip_element}, {"runs", el}, {"parts", ep}};
    j["memory"] = {{"peak_rss_kib", peak},
                   {"peak_rss_after_element_level_kib", peak_element},
                   {"rss_after_model_load_kib", rss_model},
                   {"rss_after_model_level_kib", rss_after_model},
                   {"rss_end_kib", cosal::bench::rss_kib()}};
    // Again: the file may have appeared during the run (the table above
    // still has the numbers).
    check_json_path(o);
    cosal::bench::write_file_atomic(o.json_path, j.dump(1) + "\n");
    std::printf("wrote %s\n", o.json_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    parse_args(argc, argv, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-bench: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    check_json_path(o);
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-bench: %s\n", e.what());
    return 1;
  }
}
