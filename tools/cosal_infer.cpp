// cosal-infer: runs a model over a dataset and writes one PNG map per frame,
// <out>/<group>/<frame>.png, at the ground truth's resolution (the frame's
// where there is none). Its streaming and window modes run each sequence
// through the element's StreamProcessor with the element's defaults, and
// scale masks with the element's MaskUpscaler, so its maps are the
// element's (only the input resize differs: stb here, GstVideoConverter
// there).
#include <glib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "dataset.h"
#include "engine.h"
#include "image.h"
#include "mask_upscaler.h"
#include "progress.h"
#include "stream_processor.h"

namespace fs = std::filesystem;
using namespace cosal;
using namespace cosal::train;

namespace {

struct Frame {
  Image input;  // resized to the model's input size
  int out_width = 0, out_height = 0;
  std::string out_path;
};

RgbView view(const Image& img) {
  return RgbView{img.pixels.data(), img.width, img.height, img.width * 3};
}

// The command line, parsed by GOptionContext; --help is generated from it.
struct Options {
  gchar* model = nullptr;
  gchar* data = nullptr;
  gchar* mask_dir = nullptr;
  gchar* groups = nullptr;
  gchar* out = nullptr;
  gchar* mode = nullptr;
  gchar* noise_image = nullptr;
  gchar* device = nullptr;
  gint group_size = 5;
  gint window = StreamOptions{}.window_size;
  gint refresh = StreamOptions{}.refresh_interval;
  gdouble smoothing = 0.0;
  gdouble scene_cut = 0.0;
  gint threads = 2;
  gint inference_size = 0;
  gboolean force = FALSE;
  ~Options() {
    for (gchar* p : {model, data, mask_dir, groups, out, mode, noise_image, device}) g_free(p);
  }
};

std::string str(const gchar* v, const char* fallback) { return v ? v : fallback; }

int usage_error(const std::string& message) {
  std::fprintf(stderr, "cosal-infer: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  const GOptionEntry entries[] = {
      {"model", 0, 0, G_OPTION_ARG_FILENAME, &opt.model,
       "Weights file (default: the installed default model; $COSAL_MODEL overrides)", "FILE"},
      {"data", 0, 0, G_OPTION_ARG_FILENAME, &opt.data,
       "DAVIS layout, CoSOD layout (Image/...), a folder of groups, or a folder of frames", "DIR"},
      {"mask-dir", 0, 0, G_OPTION_ARG_STRING, &opt.mask_dir,
       "CoSOD mask folder, only to size the output like the ground truth (GroundTruth)", "NAME"},
      {"groups", 0, 0, G_OPTION_ARG_STRING, &opt.groups, "Only these groups (comma-separated)",
       "A,B"},
      {"out", 0, 0, G_OPTION_ARG_FILENAME, &opt.out, "Writes DIR/<group>/<frame>.png (8-bit maps)",
       "DIR"},
      {"mode", 0, 0, G_OPTION_ARG_STRING, &opt.mode,
       "streaming (default) or window: the element's modes, through its stream processor; "
       "group: whole-group forward over --group-size consecutive frames; single: each frame "
       "on its own (a group of one)",
       "MODE"},
      {"window", 0, 0, G_OPTION_ARG_INT, &opt.window,
       "Frames in the group's sliding window, as the element's window-size (8)", "W"},
      {"refresh", 0, 0, G_OPTION_ARG_INT, &opt.refresh,
       "Re-seed G from the window every R frames, as the element's refresh-interval (0 = never; "
       "-1 = 1 in window mode, W in streaming mode; default -1)",
       "R"},
      {"smoothing", 0, 0, G_OPTION_ARG_DOUBLE, &opt.smoothing,
       "Temporal smoothing, as the element's smoothing (0 = off)", "A"},
      {"scene-cut-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &opt.scene_cut,
       "Start a new group at a scene cut, as the element's scene-cut-threshold (0 = off)", "T"},
      {"group-size", 0, 0, G_OPTION_ARG_INT, &opt.group_size, "Frames per group in group mode (5)",
       "N"},
      {"noise-image", 0, 0, G_OPTION_ARG_FILENAME, &opt.noise_image,
       "Group mode: insert this foreign image in the middle of every group (the paper's "
       "robustness test); its own map is not written",
       "FILE"},
      {"device", 0, 0, G_OPTION_ARG_STRING, &opt.device, "cpu, cuda, cuda:N or auto (cpu)", "D"},
      {"inference-size", 0, 0, G_OPTION_ARG_INT, &opt.inference_size,
       "Long side of the network input, aspect kept, rounded to the model's size multiple, as "
       "the element's inference-size (0: the model's native size)",
       "N"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &opt.threads, "CPU threads (2)", "N"},
      {"force", 0, 0, G_OPTION_ARG_NONE, &opt.force, "Overwrite existing maps", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- co-saliency maps for a dataset");
  g_option_context_set_summary(
      ctx,
      "Runs a model over a dataset and writes one 8-bit PNG map per frame, "
      "DIR/<group>/<frame>.png, at the ground truth's resolution (the frame's where there "
      "is none).");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* error = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &error);
  g_option_context_free(ctx);
  if (!parsed) {
    const std::string m = error->message;
    g_error_free(error);
    return usage_error(m + " (see --help)");
  }
  if (argc > 1) return usage_error(std::string("unexpected argument '") + argv[1] + "'");
  std::string model_path = str(opt.model, ""), data = str(opt.data, ""),
              mask_dir = str(opt.mask_dir, "GroundTruth"), out = str(opt.out, ""),
              mode = str(opt.mode, "streaming"), device = str(opt.device, "cpu"),
              noise_image = str(opt.noise_image, "");
  const std::vector<std::string> only =
      opt.groups ? split_list(opt.groups) : std::vector<std::string>{};
  if (data.empty() || out.empty()) return usage_error("--data and --out are required");
  if (mode != "streaming" && mode != "window" && mode != "group" && mode != "single")
    return usage_error("--mode: streaming, window, group or single, not '" + mode + "'");
  if (opt.group_size < 1) return usage_error("--group-size must be at least 1");
  if (opt.window < 1) return usage_error("--window must be at least 1");
  if (opt.refresh < -1) return usage_error("--refresh must be -1 or more");
  if (opt.smoothing < 0 || opt.smoothing > 1) return usage_error("--smoothing must be in [0, 1]");
  if (opt.scene_cut < 0 || opt.scene_cut > 1)
    return usage_error("--scene-cut-threshold must be in [0, 1]");
  if (opt.threads < 0 || opt.inference_size < 0)
    return usage_error("--threads and --inference-size must not be negative");
  if (!noise_image.empty() && mode != "group")
    return usage_error("--noise-image needs --mode group");
  const int group_size = opt.group_size, threads = opt.threads, inference_size = opt.inference_size;

  try {
    if (model_path.empty()) model_path = Model::default_path();
    set_cpu_threads(threads);
    tune_malloc_for_inference();
    std::string warning;
    const auto model = Model::acquire(model_path, device, &warning);
    if (!warning.empty()) std::fprintf(stderr, "cosal-infer: warning: %s\n", warning.c_str());
    const ModelInfo& info = model->info();
    Dataset ds = load_any(data, mask_dir, false);
    if (!only.empty()) ds = select_groups(ds, only);

    // Refuse before any work if an output exists.
    if (!opt.force) {
      for (const auto& g : ds.groups)
        for (const auto& s : g.samples) {
          const fs::path p = fs::path(out) / g.name / (s.name + ".png");
          if (fs::exists(p))
            throw std::runtime_error(p.string() + ": exists; pass --force to overwrite");
        }
    }
    // The paper's robustness test: one foreign image in every group; its own
    // map is not written.
    Image noise_source;
    if (!noise_image.empty()) noise_source = load_image(noise_image, 3);
    const size_t total = ds.num_samples();
    Progress prog("infer", static_cast<int64_t>(total), 0, stderr, 10.0);
    int64_t done = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& g : ds.groups) {
      fs::create_directories(fs::path(out) / g.name);
      std::vector<Frame> frames;
      // One input size per group (the first frame's aspect), as the element
      // keeps one size per caps.
      int w = info.input_width, h = info.input_height;
      for (const auto& s : g.samples) {
        const LoadedSample ls = load_sample(s);
        if (frames.empty())
          info.inference_size(inference_size, ls.image.width, ls.image.height, &w, &h);
        Frame f;
        f.input = resize(ls.image, w, h);
        f.out_width = ls.mask.empty() ? ls.image.width : ls.mask.width;
        f.out_height = ls.mask.empty() ? ls.image.height : ls.mask.height;
        f.out_path = (fs::path(out) / g.name / (s.name + ".png")).string();
        frames.push_back(std::move(f));
      }
      Image noise;
      if (!noise_source.empty()) noise = resize(noise_source, w, h);
      MaskUpscaler upscaler;
      auto emit = [&](const Frame& f, const std::vector<float>& mask) {
        Image map(f.out_width, f.out_height, 1);
        upscaler.configure(w, h, f.out_width, f.out_height);
        upscaler.run(mask.data(), map.pixels.data(), 1, f.out_width, 0);
        save_png(f.out_path, map);
        prog.update(++done);
      };
      if (mode == "group") {
        for (size_t b = 0; b < frames.size(); b += static_cast<size_t>(group_size)) {
          std::vector<RgbView> views;
          for (size_t i = b; i < std::min(frames.size(), b + group_size); ++i)
            views.push_back(view(frames[i].input));
          const size_t at = views.size() / 2;
          if (!noise.empty())
            views.insert(views.begin() + static_cast<std::ptrdiff_t>(at), view(noise));
          auto masks = model->forward_group(views);
          if (!noise.empty()) masks.erase(masks.begin() + static_cast<std::ptrdiff_t>(at));
          for (size_t i = 0; i < masks.size(); ++i) emit(frames[b + i], masks[i]);
        }
      } else if (mode == "single") {
        std::vector<float> mask(static_cast<size_t>(w) * h);
        for (const Frame& f : frames) {
          GroupState none;
          model->decode(none, model->encode({view(f.input)}).front(), mask.data());
          emit(f, mask);
        }
      } else {
        StreamOptions so;
        so.mode = mode == "window" ? StreamOptions::Mode::kWindow : StreamOptions::Mode::kStreaming;
        so.window_size = opt.window;
        so.refresh_interval = opt.refresh;
        so.smoothing = opt.smoothing;
        so.scene_cut_threshold = opt.scene_cut;
        StreamProcessor processor(so);  // a new group per sequence
        std::vector<float> mask(static_cast<size_t>(w) * h);
        size_t next = 0;  // the frame the next mask belongs to
        auto emit_ready = [&]() {
          while (processor.ready()) {
            processor.pop(*model, mask.data());
            emit(frames[next++], mask);
          }
        };
        for (const Frame& f : frames) {
          processor.push(*model, view(f.input));
          emit_ready();
        }
        processor.drain(*model);
        emit_ready();
      }
    }
    prog.finish();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "cosal-infer: %zu maps in %zu groups (%s mode, %.1f frames/s) -> %s\n",
                 total, ds.groups.size(), mode.c_str(),
                 s > 0 ? static_cast<double>(total) / s : 0.0, out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-infer: error: %s\n", e.what());
    return 1;
  }
}
