// cosal-infer: runs a model over a dataset and writes one PNG map per frame,
// <out>/<group>/<frame>.png, at the ground truth's resolution (the frame's
// where there is none). It talks to the model only through engine.h, the
// inference client the GStreamer element uses, so its streaming mode is the
// element's code path.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "dataset.h"
#include "engine.h"
#include "image.h"
#include "progress.h"

namespace fs = std::filesystem;
using namespace cosal;
using namespace cosal::train;

namespace {

const char* kUsage = R"(usage: cosal-infer --data DIR --out DIR [options]

  --model FILE        weights file (default: the installed default model, $COSAL_MODEL overrides)
  --data DIR          DAVIS layout, CoSOD layout (Image/...), a folder of groups, or a folder of frames
  --mask-dir NAME     CoSOD mask folder, only to size the output like the ground truth (GroundTruth)
  --groups A,B        only these groups
  --out DIR           writes DIR/<group>/<frame>.png (8-bit maps)
  --mode MODE         streaming (default): per frame encode, one RCAU step on the persistent
                        group feature G, decode against the current G, as the element does;
                      group: whole-group forward over --group-size consecutive frames;
                      single: each frame on its own (a group of one)
  --group-size N      frames per group in group mode (5)
  --window W          streaming: re-seed G from the last W frames ...
  --refresh R         ... every R frames (0 = never: G persists over the sequence)
  --noise-image FILE  group mode: insert this foreign image in the middle of every group (the
                        paper's robustness test); its own map is not written
  --device D          cpu | cuda | cuda:N | auto (cpu)
  --inference-size N  long side of the network input, aspect kept, rounded to the model's size
                        multiple, as the element's inference-size (0: the model's native size)
  --threads N         CPU threads (2)
  --force             overwrite existing maps
)";

// Bilinear resize of a float map (align_corners = false, as the trainer's
// validation and torch's interpolate), then to 8 bits.
Image upsample(const std::vector<float>& m, int w, int h, int ow, int oh) {
  Image out(ow, oh, 1);
  const double sx = static_cast<double>(w) / ow, sy = static_cast<double>(h) / oh;
  for (int y = 0; y < oh; ++y) {
    const double fy = std::max(0.0, (y + 0.5) * sy - 0.5);
    const int y0 = std::min(static_cast<int>(fy), h - 1), y1 = std::min(y0 + 1, h - 1);
    const double ay = fy - y0;
    for (int x = 0; x < ow; ++x) {
      const double fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      const int x0 = std::min(static_cast<int>(fx), w - 1), x1 = std::min(x0 + 1, w - 1);
      const double ax = fx - x0;
      const double v =
          (1 - ay) * ((1 - ax) * m[size_t(y0) * w + x0] + ax * m[size_t(y0) * w + x1]) +
          ay * ((1 - ax) * m[size_t(y1) * w + x0] + ax * m[size_t(y1) * w + x1]);
      out.pixels[size_t(y) * ow + x] =
          static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255));
    }
  }
  return out;
}

struct Frame {
  Image input;  // resized to the model's input size
  int out_width = 0, out_height = 0;
  std::string out_path;
};

RgbView view(const Image& img) {
  return RgbView{img.pixels.data(), img.width, img.height, img.width * 3};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, data, mask_dir = "GroundTruth", out, mode = "streaming", device = "cpu",
                                noise_image;
  std::vector<std::string> only;
  int group_size = 5, window = 0, refresh = 0, threads = 2, inference_size = 0;
  bool force = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + ": missing value");
        return argv[++i];
      };
      auto integer = [&]() {
        const std::string v = value();
        size_t pos = 0;
        int n = 0;
        try {
          n = std::stoi(v, &pos);
        } catch (const std::exception&) {
          pos = 0;
        }
        if (pos != v.size() || n < 0) throw std::invalid_argument(a + ": not a count: '" + v + "'");
        return n;
      };
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--model") {
        model_path = value();
      } else if (a == "--data") {
        data = value();
      } else if (a == "--mask-dir") {
        mask_dir = value();
      } else if (a == "--groups") {
        only = split_list(value());
      } else if (a == "--out") {
        out = value();
      } else if (a == "--mode") {
        mode = value();
      } else if (a == "--group-size") {
        group_size = integer();
      } else if (a == "--window") {
        window = integer();
      } else if (a == "--refresh") {
        refresh = integer();
      } else if (a == "--noise-image") {
        noise_image = value();
      } else if (a == "--device") {
        device = value();
      } else if (a == "--threads") {
        threads = integer();
      } else if (a == "--inference-size") {
        inference_size = integer();
      } else if (a == "--force") {
        force = true;
      } else {
        throw std::invalid_argument("unknown option '" + a + "' (see --help)");
      }
    }
    if (data.empty() || out.empty()) throw std::invalid_argument("--data and --out are required");
    if (mode != "streaming" && mode != "group" && mode != "single")
      throw std::invalid_argument("--mode: streaming, group or single, not '" + mode + "'");
    if (group_size < 1) throw std::invalid_argument("--group-size must be at least 1");
    if (!noise_image.empty() && mode != "group")
      throw std::invalid_argument("--noise-image needs --mode group");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-infer: %s\n", e.what());
    return 2;
  }

  try {
    if (model_path.empty()) model_path = Model::default_path();
    set_cpu_threads(threads);
    std::string warning;
    const auto model = Model::acquire(model_path, device, &warning);
    if (!warning.empty()) std::fprintf(stderr, "cosal-infer: warning: %s\n", warning.c_str());
    const ModelInfo& info = model->info();
    Dataset ds = load_any(data, mask_dir, false);
    if (!only.empty()) ds = select_groups(ds, only);

    // Refuse before any work if an output exists.
    if (!force) {
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
      auto emit = [&](const Frame& f, const std::vector<float>& mask) {
        save_png(f.out_path, upsample(mask, w, h, f.out_width, f.out_height));
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
      } else {
        GroupState state;
        std::deque<Features> recent;
        std::vector<float> mask(static_cast<size_t>(w) * h);
        for (size_t t = 0; t < frames.size(); ++t) {
          const Features f = model->encode({view(frames[t].input)}).front();
          if (mode == "single") {
            GroupState none;
            model->decode(none, f, mask.data());
          } else {
            if (window > 0) {
              recent.push_back(f);
              if (static_cast<int>(recent.size()) > window) recent.pop_front();
            }
            if (window > 0 && refresh > 0 && t > 0 && t % static_cast<size_t>(refresh) == 0)
              model->seed(state, std::vector<Features>(recent.begin(), recent.end()));
            else
              model->update(state, f);
            model->decode(state, f, mask.data());
          }
          emit(frames[t], mask);
        }
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
