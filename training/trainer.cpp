#include "trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "augment.h"
#include "checkpoint.h"
#include "data_parallel.h"
#include "dataset.h"
#include "engine_impl.h"
#include "feature_cache.h"
#include "losses.h"
#include "mobilenet_v2.h"
#include "progress.h"
#include "random.h"
#include "rcan.h"
#include "rcan_io.h"
#include "synthetic_groups.h"
#include "tflite_import.h"
#include "validation.h"
#include "weight_average.h"
#include "weights_io.h"

namespace fs = std::filesystem;

namespace cosal::train {

namespace {

std::atomic<bool> g_stop{false};

// SIGINT before the first step: nothing to checkpoint yet, stop at once.
struct Interrupted {};

// CPU seconds of this process, all threads.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Pool {
  FeatureCache cache;
  std::vector<PoolGroup> real, synthetic, stills;
  // `real` split by kind, set by build_pool once `real` is final (for --still-fraction).
  std::vector<const PoolGroup*> real_video, real_still;
};

void say(const TrainOptions& o, const std::string& msg) {
  if (!o.quiet) std::fprintf(stderr, "cosal-train: %s\n", msg.c_str());
}

std::string mb(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// Every training root in one list; `video_groups` gets the names of the
// groups that are video sequences (sampled with temporal spacing).
Dataset load_training_data(const TrainOptions& o, std::set<std::string>* video_groups) {
  Dataset all;
  all.layout = "mixed";
  auto append = [&](Dataset d, bool video) {
    all.root += (all.root.empty() ? "" : ";") + d.root;
    for (auto& g : d.groups) {
      if (video) video_groups->insert(g.name);
      all.groups.push_back(std::move(g));
    }
  };
  for (const auto& r : o.davis) append(load_davis(r), true);
  for (const auto& spec : o.cosod) {
    // "PATH:MASKDIR" (a mask folder name has no '/').
    const auto colon = spec.rfind(':');
    if (colon != std::string::npos && colon > 0 && spec.find('/', colon) == std::string::npos)
      append(load_cosod(spec.substr(0, colon), spec.substr(colon + 1)), false);
    else
      append(load_cosod(spec), false);
  }
  for (const auto& r : o.groups) append(load_group_folders(r), false);
  return all;
}

double learning_rate(const TrainOptions& o, int64_t step) {
  double lr = o.lr;
  if (o.warmup > 0 && step < o.warmup) lr *= static_cast<double>(step + 1) / o.warmup;
  const double p = static_cast<double>(step) / std::max<int64_t>(1, o.steps);
  if (o.schedule == "cosine") {
    lr *= 0.01 + 0.99 * 0.5 * (1.0 + std::cos(M_PI * p));
  } else if (o.schedule == "step") {
    if (p >= 0.85)
      lr *= 0.01;
    else if (p >= 0.6)
      lr *= 0.1;
  }
  return lr;
}

// One training group: indices into the pool.
struct DrawnGroup {
  std::vector<int64_t> idx;  // pool items, in group order
  const PoolGroup* group = nullptr;
};

DrawnGroup sample_group(const Pool& pool, const TrainOptions& o, Rng& rng) {
  bool synth = false, stills = false;
  if (pool.stills.empty()) {
    // (Without stills, the draws of the runs before --stills existed.)
    synth = !pool.synthetic.empty() && (pool.real.empty() || rng.chance(o.synthetic_fraction));
  } else {
    // One draw splits all steps, so both fractions are shares of all steps;
    // the real groups take the rest, or stills whatever no other pool can.
    const double u = rng.uniform();
    stills = (pool.real.empty() && pool.synthetic.empty()) || u < o.stills_fraction;
    synth = !stills && !pool.synthetic.empty() &&
            (pool.real.empty() || u < o.stills_fraction + o.synthetic_fraction);
  }
  const auto& groups = stills ? pool.stills : synth ? pool.synthetic : pool.real;
  const PoolGroup* pick = &groups[rng.integer(0, static_cast<int64_t>(groups.size()) - 1)];
  if (!synth && !stills && o.still_fraction >= 0) {
    // Video and still-image groups in a set share of the real steps, so 105
    // image pairs do not outvote 9 sequences just by being more groups.
    if (!pool.real_video.empty() && !pool.real_still.empty()) {
      const auto& side = rng.chance(o.still_fraction) ? pool.real_still : pool.real_video;
      pick = side[rng.integer(0, static_cast<int64_t>(side.size()) - 1)];
    }
  }
  const PoolGroup& g = *pick;
  const int64_t len = static_cast<int64_t>(g.items.size());
  const int64_t n = std::min<int64_t>(len, rng.integer(o.min_group, o.max_group));
  std::vector<int64_t> idx;
  if (g.video && n > 1) {
    // Frames of one sequence in order, with a random temporal spacing.
    const int64_t max_gap =
        std::max<int64_t>(1, std::min<int64_t>(o.max_frame_gap, (len - 1) / (n - 1)));
    const int64_t gap = rng.integer(1, max_gap);
    const int64_t start = rng.integer(0, len - 1 - (n - 1) * gap);
    for (int64_t i = 0; i < n; ++i) idx.push_back(g.items[start + i * gap]);
  } else {
    // A random subset in random order (partial Fisher-Yates).
    std::vector<int64_t> items = g.items;
    for (int64_t i = 0; i < n; ++i) {
      std::swap(items[i], items[rng.integer(i, len - 1)]);
      idx.push_back(items[i]);
    }
  }
  return {idx, &g};
}

// Frames cut out of each video of --cutout-stamps: spread over it, so they
// show the object in different poses rather than near-duplicates.
constexpr size_t kCutoutsPerVideo = 4;

std::vector<Stamp> load_cutout_stamps(const TrainOptions& o, const Exclusions& ex) {
  std::vector<Stamp> out;
  size_t tried = 0;
  for (const auto& root : o.cutout_stamps) {
    Dataset d = load_any(root);
    apply_exclusions(d, ex);
    for (const auto& g : d.groups) {
      const size_t n = g.samples.size(), take = std::min(n, kCutoutsPerVideo);
      for (size_t k = 0; k < take; ++k) {
        const Sample& s = g.samples[take == 1 ? 0 : k * (n - 1) / (take - 1)];
        const LoadedSample ls = load_sample(s);
        ++tried;
        Stamp st;
        if (cutout_stamp(s.image, ls.image, ls.mask, 256, &st)) out.push_back(std::move(st));
        if (g_stop.load()) throw Interrupted();
      }
    }
  }
  say(o, std::to_string(out.size()) + " cut-out stamps from " + std::to_string(tried) +
             " labelled images (the rest too small or too large)");
  return out;
}

void build_pool(const TrainOptions& o, const Dataset& data, const std::vector<bool>& video,
                bool with_distractors, const std::vector<Stamp>& cutouts, Pool& pool) {
  Rng rng(o.seed * 0x9E3779B97F4A7C15ULL + 17);
  auto to_input = [&](const Image& im) { return resize(im, o.size, o.input_height()); };
  std::vector<Image> backgrounds;
  const bool want_backgrounds = (!o.stamps.empty() || !cutouts.empty()) && o.synthetic_groups > 0;
  Progress prog("load", static_cast<int64_t>(data.num_samples()), 0, stderr, 10.0);
  int64_t done = 0;
  for (size_t gi = 0; gi < data.groups.size(); ++gi) {
    const Group& g = data.groups[gi];
    PoolGroup pg;
    pg.name = g.name;
    pg.video = video[gi];
    // One crop rectangle per copy for the whole group (fractions of the
    // image), so a video copy stays spatially consistent, as a zoomed camera.
    struct RelRect {
      double x, y, w, h;
    };
    std::vector<RelRect> rects;
    std::vector<PoolGroup> cropped;
    for (int k = 0; k < o.real_crops; ++k) {
      const double area = rng.uniform(0.4, 0.9), squeeze = rng.uniform(0.6, 1.0);
      const double w = std::min(1.0, std::sqrt(area * squeeze));
      const double h = std::min(1.0, std::sqrt(area / squeeze));
      rects.push_back({rng.uniform(0.0, 1.0 - w), rng.uniform(0.0, 1.0 - h), w, h});
      PoolGroup c = pg;
      c.name += "-crop" + std::to_string(k);
      cropped.push_back(std::move(c));
    }
    for (const auto& s : g.samples) {
      const LoadedSample ls = load_sample(s);
      pg.items.push_back(pool.cache.add(to_input(ls.image), to_input(ls.mask)));
      for (size_t k = 0; k < rects.size(); ++k) {
        const int iw = ls.image.width, ih = ls.image.height;
        const int x = std::clamp(static_cast<int>(std::lround(rects[k].x * iw)), 0, iw - 1);
        const int y = std::clamp(static_cast<int>(std::lround(rects[k].y * ih)), 0, ih - 1);
        const int w = std::clamp(static_cast<int>(std::lround(rects[k].w * iw)), 1, iw - x);
        const int h = std::clamp(static_cast<int>(std::lround(rects[k].h * ih)), 1, ih - y);
        cropped[k].items.push_back(pool.cache.add(to_input(crop(ls.image, x, y, w, h)),
                                                  to_input(crop(ls.mask, x, y, w, h))));
      }
      // Object-free crops of real frames: backgrounds without unlabelled
      // objects (the notes' lesson), only from fully annotated video.
      if (want_backgrounds && pg.video) {
        for (int k = 0; k < o.backgrounds_per_frame; ++k) {
          Image crop;
          if (object_free_crop(ls.image, ls.mask, rng, o.size, 0.005, 20, &crop))
            backgrounds.push_back(std::move(crop));
        }
      }
      if (!o.quiet) prog.update(++done);
      if (g_stop.load()) throw Interrupted();
    }
    pool.real.push_back(std::move(pg));
    for (auto& c : cropped) pool.real.push_back(std::move(c));
  }
  if (o.mirror) {
    // Mirrored copies as groups of their own: a group never mixes the two.
    const size_t n = pool.real.size();
    for (size_t gi = 0; gi < n; ++gi) {
      PoolGroup pg = pool.real[gi];
      pg.name += "-mirrored";
      for (auto& item : pg.items) item = pool.cache.add_mirrored(item);
      pool.real.push_back(std::move(pg));
    }
  }
  for (const auto& pg : pool.real) (pg.video ? pool.real_video : pool.real_still).push_back(&pg);
  if (!o.quiet) prog.finish();
  if (!want_backgrounds) return;
  std::vector<std::string> rejected;
  std::vector<Stamp> stamps;
  if (!o.stamps.empty()) stamps = load_stamps(o.stamps, 256, &rejected);
  say(o, std::to_string(stamps.size()) + " photo stamps kept, " + std::to_string(rejected.size()) +
             " rejected; " + std::to_string(backgrounds.size()) + " object-free backgrounds");
  stamps.insert(stamps.end(), cutouts.begin(), cutouts.end());
  if (stamps.size() < 2)
    throw std::runtime_error(
        "fewer than 2 usable stamps (photo stamps and cut-outs) for synthetic groups");
  if (static_cast<int>(backgrounds.size()) < o.synthetic_members)
    throw std::runtime_error("only " + std::to_string(backgrounds.size()) +
                             " object-free backgrounds for synthetic groups of " +
                             std::to_string(o.synthetic_members));
  SynthesisOptions so;
  so.size = o.size;
  so.distractor_probability = o.distractor_probability;
  for (int i = 0; i < o.synthetic_groups; ++i) {
    if (g_stop.load()) throw Interrupted();
    const SyntheticGroup sg =
        make_synthetic_group(stamps, backgrounds, o.synthetic_members, with_distractors, rng, so);
    PoolGroup pg;
    pg.name = "synthetic-" + std::to_string(i);
    pg.synthetic = true;
    // Composites are square (object-free square crops); a non-square
    // input stretches them as the real frames are stretched to it.
    for (const auto& m : sg.members) {
      pg.items.push_back(o.input_height() == o.size
                             ? pool.cache.add(m.image, m.mask)
                             : pool.cache.add(to_input(m.image), to_input(m.mask)));
    }
    pool.synthetic.push_back(std::move(pg));
  }
}

// --stills: each photograph becomes a group of o.stills_views views of
// itself (still_views: a camera moving over a still scene, so the RCAU sees
// one common object). They are drawn once, here, so that the frozen
// backbone's features are cached like every pool image's (per-step
// augmentation would defeat the cache); a step draws min..max group of them,
// as from a synthetic group. Not mirrored: the views are flipped at random
// already. Its own generator: the rest of the pool is the same with or
// without stills.
void build_stills(const TrainOptions& o, const Dataset& stills, Pool& pool) {
  Rng rng(o.seed * 0x9E3779B97F4A7C15ULL + 29);
  Progress prog("stills", static_cast<int64_t>(stills.groups.size()), 0, stderr, 10.0);
  int64_t done = 0;
  for (const Group& g : stills.groups) {
    for (const Sample& s : g.samples) {
      const LoadedSample ls = load_sample(s);
      PoolGroup pg;
      pg.name = "still-" + g.name + (g.samples.size() > 1 ? "-" + s.name : "");
      pg.stills = true;
      for (const auto& [view, mask] :
           still_views(ls.image, ls.mask, o.stills_views, o.size, o.input_height(), rng))
        pg.items.push_back(pool.cache.add(view, mask));
      pool.stills.push_back(std::move(pg));
      if (g_stop.load()) throw Interrupted();
    }
    if (!o.quiet) prog.update(++done);
  }
  if (!o.quiet) prog.finish();
}

void set_trainable(RcanImpl& net, const TrainOptions& o) {
  for (auto& p : net.parameters()) p.set_requires_grad(true);
  if (!o.freeze_backbone) return;
  for (auto& p : net.backbone->parameters()) p.set_requires_grad(false);
  if (o.finetune_last_blocks > 0) {
    auto mnv2 = std::dynamic_pointer_cast<MobileNetV2Impl>(net.backbone);
    if (!mnv2)
      throw std::invalid_argument("--finetune-last-blocks needs the mobilenet_v2 backbone");
    const int64_t last = MobileNetV2Impl::kStride16Block;
    if (o.finetune_last_blocks > last + 1)
      throw std::invalid_argument("--finetune-last-blocks: at most " + std::to_string(last + 1));
    for (int64_t b = last - o.finetune_last_blocks + 1; b <= last; ++b)
      for (auto& p : mnv2->blocks[b]->parameters()) p.set_requires_grad(true);
  }
}

void rewrite_log(const std::string& path, int64_t keep_up_to_step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, out;
  bool header = true;
  while (std::getline(in, line)) {
    if (!header) {
      const int64_t step = std::strtoll(line.c_str(), nullptr, 10);
      if (step > keep_up_to_step) continue;
    }
    header = false;
    out += line + "\n";
  }
  write_file_atomic(path, out);
}

}  // namespace

void request_stop() { g_stop.store(true); }
void clear_stop_request() { g_stop.store(false); }

static TrainResult train_run(const TrainOptions& o);

TrainResult train(const TrainOptions& options) {
  TrainOptions o = options;
  // The other ranks repeat rank 0's work: only rank 0 reports progress.
  if (o.launch.rank != 0) o.quiet = true;
  try {
    return train_run(o);
  } catch (const Interrupted&) {
    if (!o.quiet)
      std::fprintf(stderr, "cosal-train: stopped before training started; nothing to save\n");
    TrainResult r;
    r.interrupted = true;
    return r;
  }
}

void check_options(const TrainOptions& o) {
  if (o.out.empty()) throw std::invalid_argument("no output model (--out)");
  if (o.size <= 0 || o.height < 0)
    throw std::invalid_argument("--size and --height must be positive (--height 0: square)");
  if (o.min_group < 1 || o.max_group < o.min_group)
    throw std::invalid_argument("group sizes: need 1 <= --min-group <= --max-group");
  if (o.optimizer != "adam" && o.optimizer != "sgd")
    throw std::invalid_argument("--optimizer: adam or sgd, not '" + o.optimizer + "'");
  if (o.schedule != "cosine" && o.schedule != "step" && o.schedule != "constant")
    throw std::invalid_argument("--schedule: cosine, step or constant, not '" + o.schedule + "'");
  if (o.batch_groups < 1)
    throw std::invalid_argument("--batch-groups: at least 1, not " +
                                std::to_string(o.batch_groups));
  if (o.real_crops < 0 || o.real_crops > 64)
    throw std::invalid_argument("--real-crops: 0 to 64, not " + std::to_string(o.real_crops));
  if (o.log_every < 1) throw std::invalid_argument("--log-every: at least 1");
  if (!(o.weight_average >= 0 && o.weight_average < 1))
    throw std::invalid_argument("--weight-average: a decay in [0, 1), not " +
                                std::to_string(o.weight_average));
  if (o.dist_timeout_s <= 0) throw std::invalid_argument("--dist-timeout: positive seconds");
  if (!o.stills.empty()) {
    if (o.stills_fraction < 0 || o.stills_fraction > 1)
      throw std::invalid_argument("--stills-fraction: 0 to 1");
    if (o.stills_views < 1) throw std::invalid_argument("--stills-views: at least 1");
    if ((!o.stamps.empty() || !o.cutout_stamps.empty()) && o.synthetic_groups > 0 &&
        o.stills_fraction + o.synthetic_fraction > 1)
      throw std::invalid_argument(
          "--stills-fraction + --synthetic-fraction: at most 1 (both are shares of all steps)");
  }
}

static TrainResult train_run(const TrainOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  check_options(o);
  if (fs::exists(o.out) && !o.force)
    throw std::runtime_error(o.out + ": exists; pass --force to overwrite it");
  const std::string work = o.work_dir.empty() ? o.out + ".work" : o.work_dir;
  const std::string ckpt_path = (fs::path(work) / "checkpoint.pt").string();
  const std::string best_path = (fs::path(work) / "best.safetensors").string();
  const std::string log_path = (fs::path(work) / "log.csv").string();
  if (!o.resume && fs::exists(ckpt_path) && !o.force)
    throw std::runtime_error(ckpt_path +
                             ": a previous run's checkpoint; pass --resume to continue "
                             "it or --force to start over");

  // Rank 0 alone writes (log, checkpoints, best and final model); the
  // others wait for it where they would read what it wrote. The long wait
  // covers rank 0's one-sided work: encoding the pool, validating.
  using ms = std::chrono::milliseconds;
  const auto step_timeout = ms(std::llround(o.dist_timeout_s * 1e3));
  DataParallel dp(o.launch, step_timeout, std::max(step_timeout, ms(30 * 60 * 1000)));
  const bool main = dp.main();
  if (main) fs::create_directories(work);
  if (dp.world() > 1)
    say(o, std::to_string(dp.world()) + " data-parallel ranks (" + o.launch.source + ", " +
               o.launch.master_addr + ":" + std::to_string(o.launch.master_port) + "), " +
               std::to_string(o.batch_groups) + " group(s) per rank and step");

  torch::set_num_threads(o.threads);
  torch::manual_seed(o.seed);
  // The engine's parser: one set of device names for every tool.
  std::string device_warning;
  const torch::Device device = parse_device(o.device, &device_warning);
  if (!device_warning.empty() && main) say(o, "warning: " + device_warning);

  // --- data
  std::set<std::string> video_names;
  Dataset data = load_training_data(o, &video_names);
  std::vector<std::string> excluded = o.exclude_groups;
  excluded.insert(excluded.end(), o.val_groups.begin(), o.val_groups.end());
  Exclusions ex;
  if (!o.exclude_list.empty()) ex = read_exclusion_file(o.exclude_list);
  for (const auto& g : excluded) ex.groups.insert(g);
  size_t removed = apply_exclusions(data, ex);
  Dataset stills;
  for (const auto& r : o.stills) {
    Dataset d = load_stills(r);
    for (auto& g : d.groups) stills.groups.push_back(std::move(g));
  }
  removed += apply_exclusions(stills, ex);
  if (data.groups.empty() && stills.groups.empty())
    throw std::runtime_error("no training groups left after exclusions");
  std::vector<bool> video;
  std::string train_names;
  for (const auto& g : data.groups) {
    video.push_back(video_names.count(g.name) != 0);
    train_names += (train_names.empty() ? "" : ",") + g.name;
  }
  say(o, std::to_string(data.groups.size()) + " training groups, " +
             std::to_string(data.num_samples()) + " images" +
             (o.stills.empty() ? "" : ", " + std::to_string(stills.num_samples()) + " stills") +
             " (" + std::to_string(removed) + " excluded)");

  // --- network
  RcanConfig cfg;
  cfg.backbone = o.backbone;
  cfg.variant = o.variant;
  cfg.sir_channels = o.sir_channels;
  cfg.decoder_channels = o.decoder_channels;
  cfg.decoder_context = o.decoder_context;
  cfg.decoder_blocks = o.decoder_blocks;
  cfg.input_width = o.size;
  cfg.input_height = o.input_height();
  Rcan net(cfg);
  if (!o.init.empty()) {
    Rcan init = load_rcan(o.init);
    if (init->config() != cfg)
      throw std::runtime_error(o.init + ": its config " + init->config().to_json() +
                               " differs from the requested " + cfg.to_json());
    load_module_state(*net, module_state(*init), o.init);
  } else if (!o.backbone_weights.empty()) {
    if (o.backbone != "mobilenet_v2" && o.backbone != "mobilenet_v2_os8")
      throw std::invalid_argument(
          "--backbone-weights is a TFLite MobileNetV2 (ImageNet classifier or DeepLabV3 encoder)");
    auto imported = import_mobilenet_v2_encoder_tflite(o.backbone_weights);
    load_module_state(*net->backbone, module_state(*imported), o.backbone_weights, "", true);
  } else if (o.backbone != "tiny") {
    say(o, "warning: no --backbone-weights: the backbone is random");
  }
  net->to(device);
  // Every rank starts from rank 0's weights (and buffers), whatever its own
  // initialisation drew.
  if (dp.world() > 1) {
    std::vector<torch::Tensor> state = net->parameters();
    for (const auto& b : net->buffers()) state.push_back(b);
    dp.broadcast(state);
  }
  set_trainable(*net, o);
  // Fine-tuning at most the blocks after the stride-8 tap keeps the feature
  // cache: the trainer recomputes X from the cached stride-8 tap each step
  // (blocks 6-12 at 14x14 cost little), the skips stay frozen.
  constexpr int64_t kBlocksAfterStride8 =
      MobileNetV2Impl::kStride16Block - MobileNetV2Impl::kStride8Block;
  const bool partial = o.freeze_backbone && o.finetune_last_blocks > 0 &&
                       o.finetune_last_blocks <= kBlocksAfterStride8;
  // Augmented images change every step, so they are encoded every step.
  const bool cached = o.freeze_backbone && !o.augment && (o.finetune_last_blocks == 0 || partial);
  auto mnv2 = std::dynamic_pointer_cast<MobileNetV2Impl>(net->backbone);
  net->train();
  net->backbone->eval();

  // --- pool
  Pool pool;
  const std::vector<Stamp> cutouts = o.synthetic_groups > 0 && !o.cutout_stamps.empty()
                                         ? load_cutout_stamps(o, ex)
                                         : std::vector<Stamp>();
  build_pool(o, data, video, cfg.uses_group(), cutouts, pool);
  build_stills(o, stills, pool);
  TrainResult result;
  result.pool_stills = static_cast<int64_t>(pool.stills.size());
  result.pool_real_groups = static_cast<int64_t>(pool.real.size());
  for (const auto& g : pool.real) result.pool_real_images += static_cast<int64_t>(g.items.size());
  if (cached) {
    Progress prog("features", pool.cache.size(), 0, stderr, 10.0);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    std::string why;
    // With a feature file, rank 0 loads or writes it and the others then
    // load it (encoding themselves if they cannot: no shared file system);
    // without one, every rank encodes its own copy in memory.
    const bool shared_file = !o.feature_cache.empty();
    if (shared_file && !main) dp.wait_for_all();
    if (shared_file && pool.cache.load_features(o.feature_cache, *net->backbone, &why)) {
      say(o, "features loaded from " + o.feature_cache);
    } else {
      if (shared_file) say(o, "encoding the pool (" + why + ")");
      pool.cache.encode(*net->backbone, 16, [&](int64_t d, int64_t) {
        if (!o.quiet) prog.update(d);
        if (g_stop.load()) throw Interrupted();
      });
      if (shared_file && main) pool.cache.save_features(o.feature_cache);
    }
    if (shared_file && main) dp.wait_for_all();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.quiet) prog.finish();
    result.cache_images_per_s = dt > 0 ? static_cast<double>(pool.cache.size()) / dt : 0;
    const double dc = cpu_seconds() - c0;
    result.cache_images_per_cpu_s = dc > 0 ? static_cast<double>(pool.cache.size()) / dc : 0;
  }
  say(o, "pool: " + std::to_string(pool.real.size()) + " real + " +
             std::to_string(pool.synthetic.size()) + " synthetic groups" +
             (pool.stills.empty() ? ""
                                  : " + " + std::to_string(pool.stills.size()) + " stills of " +
                                        std::to_string(o.stills_views) + " views") +
             ", " + std::to_string(pool.cache.size()) + " images, " + mb(pool.cache.bytes()) +
             (cached ? " with features" : ""));

  std::unique_ptr<Validator> validator;
  const bool validating = !o.val_groups.empty();
  if (validating && main) {
    const std::string root = !o.val_data.empty() ? o.val_data
                             : !o.davis.empty()  ? o.davis.front()
                                                 : std::string();
    if (root.empty())
      throw std::invalid_argument("--val-groups needs --val-data or a --davis root");
    validator = std::make_unique<Validator>(select_groups(load_any(root), o.val_groups), o.size,
                                            o.input_height(),
                                            StreamingOptions{o.val_window, o.val_refresh});
    say(o, "validation: " + std::to_string(validator->frames()) + " frames of " +
               std::to_string(o.val_groups.size()) + " held-out groups, streaming");
  }

  // --- optimiser: the head at --lr, fine-tuned backbone blocks scaled.
  std::vector<torch::Tensor> head_params, backbone_params;
  for (auto& p : net->backbone->parameters())
    if (p.requires_grad()) backbone_params.push_back(p);
  for (auto& p : net->parameters()) {
    if (!p.requires_grad()) continue;
    bool in_backbone = false;
    for (const auto& b : backbone_params) in_backbone = in_backbone || b.is_same(p);
    if (!in_backbone) head_params.push_back(p);
  }
  std::vector<double> lr_scale{1.0};
  auto groups = [&](auto make_options) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(head_params, make_options(o.lr));
    if (!backbone_params.empty()) {
      g.emplace_back(backbone_params, make_options(o.lr * o.backbone_lr_scale));
      lr_scale.push_back(o.backbone_lr_scale);
    }
    return g;
  };
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (o.optimizer == "adam")
    opt = std::make_unique<torch::optim::Adam>(
        groups([&](double lr) {
          return std::make_unique<torch::optim::AdamOptions>(
              torch::optim::AdamOptions(lr).weight_decay(o.weight_decay));
        }),
        torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  else
    opt = std::make_unique<torch::optim::SGD>(
        groups([&](double lr) {
          return std::make_unique<torch::optim::SGDOptions>(
              torch::optim::SGDOptions(lr).momentum(o.momentum).weight_decay(o.weight_decay));
        }),
        torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));

  // The parameters whose gradients the ranks average, in one order on all.
  std::vector<torch::Tensor> trainable;
  for (auto& p : net->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  std::unique_ptr<WeightAverage> average;
  if (o.weight_average > 0) average = std::make_unique<WeightAverage>(trainable, o.weight_average);

  TrainState st;
  Rng rng(o.seed);
  st.rng = rng.state();
  // Every rank loads the checkpoint rank 0 wrote (it waited for the write).
  if (o.resume && fs::exists(ckpt_path)) {
    st = load_checkpoint(ckpt_path, *net, *opt);
    rng.set_state(st.rng);
    if (average) {
      if (st.averaged.empty())
        throw std::runtime_error(
            ckpt_path + ": has no weight average; resume with the options it was made with");
      average->set_averaged(st.averaged);
    }
    if (main) rewrite_log(log_path, st.step);
    say(o, "resumed at step " + std::to_string(st.step));
  } else {
    if (o.resume) say(o, "no checkpoint in " + work + ": starting from step 0");
    if (main) {
      write_file_atomic(log_path,
                        "step,lr,loss,bce,coperceptual,elapsed_s,val_sm,val_mae,val_iou,val_f\n");
      fs::remove(best_path);
    }
  }
  std::ofstream log;
  if (main) log.open(log_path, std::ios::app);

  auto elapsed = [&] {
    return st.elapsed_s +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
  auto checkpoint = [&] {
    if (main) {
      st.rng = rng.state();
      st.elapsed_s = elapsed();
      if (average) st.averaged = average->averaged();
      save_checkpoint(ckpt_path, *net, *opt, st);
      // Keep elapsed time of this process counted once.
      st.elapsed_s -=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    }
    // A rank that stops here may be resumed from this file at once.
    dp.wait_for_all();
  };

  // F3Net's kernel of 31 at 352 px, scaled to the input (odd).
  const int64_t boundary_kernel = 2 * std::max<int64_t>(1, o.size * 15 / 352) + 1;
  Progress prog("train", o.steps, st.step, stderr, 15.0);
  double ema = -1, ema_c = 0;
  const int64_t first_step = st.step;
  const auto t_loop = std::chrono::steady_clock::now();
  double cpu_fetch = 0, cpu_forward = 0, cpu_backward = 0, cpu_coperc = 0, cpu_loop = 0;
  int64_t coperc_steps = 0;
  // The global batch: every rank draws all of it from the shared RNG (so
  // they stay in step) and trains on its own slice.
  const int64_t batch = o.batch_groups, global_batch = dp.world() * batch;
  const int64_t mine = dp.rank() * batch;
  bool stop_all = false;  // some rank was asked to stop (known after a step's all-reduce)
  while (st.step < o.steps) {
    // One rank alone cannot stop: the others would wait for it. A stop
    // request travels with the step's gradients and all stop together.
    if ((dp.world() > 1 ? stop_all : g_stop.load()) || st.step == o.stop_after) {
      checkpoint();
      if (!o.quiet) prog.finish();
      say(o, "stopped at step " + std::to_string(st.step) + "; checkpoint " + ckpt_path +
                 " (continue with --resume)");
      result.interrupted = true;
      break;
    }
    const double lr = learning_rate(o, st.step);
    for (size_t k = 0; k < opt->param_groups().size(); ++k)
      opt->param_groups()[k].options().set_lr(lr * lr_scale[k]);

    const double c_start = cpu_seconds();
    std::vector<DrawnGroup> drawn;
    // With more than one group per global batch, each group's augmentation
    // draws from a generator of its own, so a rank can skip the others'
    // groups without replaying their draws; one group keeps the shared one.
    std::vector<uint64_t> augment_seeds;
    for (int64_t g = 0; g < global_batch; ++g) {
      drawn.push_back(sample_group(pool, o, rng));
      if (o.augment && global_batch > 1) augment_seeds.push_back(rng.next());
    }
    double fetch_s = 0, forward_s = 0, backward_s = 0;
    double loss_sum = 0, bce_sum = 0, coperc_sum = 0, coperc_n = 0;
    for (int64_t g = mine; g < mine + batch; ++g) {
      const double c_group = cpu_seconds();
      const DrawnGroup& sample = drawn[static_cast<size_t>(g)];
      const std::vector<int64_t>& idx = sample.idx;
      ++(sample.group->synthetic ? result.synthetic_steps
         : sample.group->stills  ? result.stills_steps
         : sample.group->video   ? result.video_steps
                                 : result.still_steps);
      torch::Tensor gt = pool.cache.masks(idx, device);
      torch::Tensor images;
      BackboneFeatures f;
      if (cached) {
        f = pool.cache.features(idx, device);
        if (partial)
          f.x = mnv2->run_blocks(f.skips[1], MobileNetV2Impl::kStride8Block + 1,
                                 MobileNetV2Impl::kStride16Block);
      } else {
        images = pool.cache.images(idx, device);
        if (o.augment) {
          Rng own(global_batch > 1 ? augment_seeds[static_cast<size_t>(g)] : 0);
          std::tie(images, gt) =
              augment_batch(images, gt, global_batch > 1 ? own : rng, {}, sample.group->video);
        }
        f = net->encode(images);
      }
      const double c_fetched = cpu_seconds();
      const RcanOutput out = net->forward_features(f, o.input_height(), o.size);
      const torch::Tensor pixel_weights =
          o.boundary_weight > 0 ? boundary_weights(gt, o.boundary_weight, boundary_kernel)
                                : torch::Tensor();
      torch::Tensor bce = saliency_loss(out.logits, gt, pixel_weights);
      torch::Tensor loss = bce;
      if (o.iou_weight > 0)
        loss = loss + o.iou_weight * soft_iou_loss(out.logits, gt, pixel_weights);
      if (o.lambda > 0 && o.coperceptual_every > 0 && st.step % o.coperceptual_every == 0 &&
          idx.size() > 1) {
        const double c0 = cpu_seconds();
        if (!images.defined()) images = pool.cache.images(idx, device);
        const torch::Tensor lc = co_perceptual_loss(*net->backbone, out.masks, images, gt);
        loss = loss + o.lambda * lc;
        coperc_sum += lc.item<double>();
        ++coperc_n;
        cpu_coperc += cpu_seconds() - c0;  // its backward is counted below
        ++coperc_steps;
      }
      const double c_forward = cpu_seconds();
      if (g == mine) opt->zero_grad();
      // The mean over the rank's groups, accumulated group by group so that
      // only one group's graph is held at a time.
      (batch == 1 ? loss : loss / static_cast<double>(batch)).backward();
      loss_sum += loss.item<double>();
      bce_sum += bce.item<double>();
      fetch_s += c_fetched - c_group;
      forward_s += c_forward - c_fetched;
      backward_s += cpu_seconds() - c_forward;
    }
    const double c_reduce = cpu_seconds();
    if (dp.world() > 1) {
      std::vector<double> sums{loss_sum, bce_sum, coperc_sum, coperc_n, g_stop.load() ? 1.0 : 0.0};
      dp.all_reduce_step(trainable, sums);
      loss_sum = sums[0];
      bce_sum = sums[1];
      coperc_sum = sums[2];
      coperc_n = sums[3];
      stop_all = sums[4] > 0;
    }
    opt->step();
    ++st.step;
    if (average) average->update(st.step);
    const double c_end = cpu_seconds();
    cpu_fetch += fetch_s;
    cpu_forward += forward_s;
    cpu_backward += backward_s + (c_end - c_reduce);
    cpu_loop += c_end - c_start;

    // Means over the global batch (one group: that group's values).
    const double lv = loss_sum / static_cast<double>(global_batch);
    const double bv = bce_sum / static_cast<double>(global_batch);
    const double coperc = coperc_n > 0 ? coperc_sum / coperc_n : NAN;
    ema = ema < 0 ? lv : 0.98 * ema + 0.02 * lv;
    if (!std::isnan(coperc)) ema_c = ema_c == 0 ? coperc : 0.9 * ema_c + 0.1 * coperc;
    if (main && st.step % o.log_every == 0)
      log << st.step << "," << lr << "," << lv << "," << bv << ","
          << (std::isnan(coperc) ? "" : std::to_string(coperc)) << "," << elapsed() << ",,,,"
          << std::endl;  // flushed, so a user can follow (tail, plot) a long run

    const bool last = st.step == o.steps;
    if (validating && ((o.val_every > 0 && st.step % o.val_every == 0) || last)) {
      int64_t stop_early = 0;
      if (main) {
        AverageSwappedIn averaged(average.get());
        const ValidationResult v =
            validator->run(*net, device, o.freeze_backbone && o.finetune_last_blocks == 0);
        log << st.step << "," << lr << ",,,," << elapsed() << "," << v.s_measure << "," << v.mae
            << "," << v.iou << "," << v.boundary_f << "\n";
        log.flush();
        std::string mark;
        if (v.s_measure > st.best_score) {
          st.best_score = v.s_measure;
          st.best_step = st.step;
          st.best_metrics = v.to_json();
          st.bad_validations = 0;
          save_rcan(best_path, *net);
          mark = " (best)";
        } else {
          ++st.bad_validations;
        }
        if (!o.quiet) {
          if (isatty(fileno(stderr))) std::fputs("\r\033[K", stderr);
          std::fprintf(stderr, "cosal-train: step %lld validation %s%s\n",
                       static_cast<long long>(st.step), v.summary().c_str(), mark.c_str());
        }
        stop_early = o.patience > 0 && st.bad_validations >= o.patience;
        if (stop_early)
          say(o, "early stop: no better validation in " + std::to_string(o.patience) + " checks");
      }
      // Only rank 0 validates; every rank follows its decision.
      result.early_stopped = dp.from_main(stop_early) != 0;
    }
    if (o.checkpoint_every > 0 && st.step % o.checkpoint_every == 0) checkpoint();
    if (!o.quiet) {
      char extra[128];
      std::snprintf(extra, sizeof extra, "loss %.4f%s lr %.1e%s", ema,
                    ema_c > 0 ? (" cp " + std::to_string(ema_c).substr(0, 6)).c_str() : "", lr,
                    st.best_score >= 0
                        ? (" best Sm " + std::to_string(st.best_score).substr(0, 5)).c_str()
                        : "");
      prog.update(st.step, extra);
    }
    if (result.early_stopped) break;
  }
  log.flush();
  const double loop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_loop).count();
  const int64_t ran = st.step - first_step;
  result.steps_per_s = loop_s > 0 ? static_cast<double>(ran) / loop_s : 0;
  if (ran > 0) {
    result.steps_per_cpu_s = cpu_loop > 0 ? static_cast<double>(ran) / cpu_loop : 0;
    result.fetch_cpu_ms = 1e3 * cpu_fetch / static_cast<double>(ran);
    result.forward_cpu_ms = 1e3 * cpu_forward / static_cast<double>(ran);
    result.backward_cpu_ms = 1e3 * cpu_backward / static_cast<double>(ran);
  }
  if (coperc_steps > 0)
    result.coperceptual_cpu_ms = 1e3 * cpu_coperc / static_cast<double>(coperc_steps);
  result.steps = st.step;
  result.best_score = st.best_score;
  result.best_step = st.best_step;
  result.best_metrics = st.best_metrics;
  if (result.interrupted) {
    result.seconds = elapsed();
    return result;
  }
  if (!o.quiet) prog.finish();
  checkpoint();
  if (!main) {
    // Until rank 0 has written the model, so a launcher sees every rank end
    // after it (or fail with it).
    dp.wait_for_all();
    result.seconds = elapsed();
    return result;
  }

  // --- the final model: the best validated weights (or the last ones).
  if (validator && fs::exists(best_path)) {
    Rcan best = load_rcan(best_path);
    load_module_state(*net, module_state(*best), best_path);
  } else if (average) {
    average->swap();  // the net is not trained further
  }
  result.seconds = elapsed();
  nlohmann::json prov;
  prov["tool"] = "cosal-train";
  prov["command"] = o.command_line;
  prov["seed"] = o.seed;
  prov["steps"] = st.step;
  prov["best_step"] = st.best_step;
  prov["early_stopped"] = result.early_stopped;
  prov["train_seconds"] = std::lround(result.seconds);
  prov["train_groups"] = train_names;
  prov["train_images"] = data.num_samples();
  prov["synthetic_groups"] = pool.synthetic.size();
  prov["val_groups"] = o.val_groups;
  prov["recipe"] = {{"optimizer", o.optimizer},
                    {"lr", o.lr},
                    {"schedule", o.schedule},
                    {"lambda", o.lambda},
                    {"coperceptual_every", o.coperceptual_every},
                    {"iou_weight", o.iou_weight},
                    {"frozen_backbone", o.freeze_backbone},
                    {"finetune_last_blocks", o.finetune_last_blocks},
                    {"backbone_lr_scale", o.backbone_lr_scale},
                    {"mirror", o.mirror},
                    {"augment", o.augment},
                    {"still_fraction", o.still_fraction},
                    {"boundary_weight", o.boundary_weight},
                    {"real_crops", o.real_crops},
                    {"size", o.size},
                    {"height", o.input_height()},
                    {"min_group", o.min_group},
                    {"max_group", o.max_group}};
  // Only when not the default, so a default run's file stays as it was.
  if (o.batch_groups != 1) prov["recipe"]["batch_groups"] = o.batch_groups;
  if (o.weight_average > 0) prov["recipe"]["weight_average"] = o.weight_average;
  if (!cutouts.empty()) prov["recipe"]["cutout_stamps"] = cutouts.size();
  if (!pool.stills.empty()) {
    prov["stills"] = pool.stills.size();
    prov["recipe"]["stills_fraction"] = o.stills_fraction;
    prov["recipe"]["stills_views"] = o.stills_views;
  }
  if (dp.world() != 1) prov["recipe"]["ranks"] = dp.world();
  if (!st.best_metrics.empty()) prov["validation"] = nlohmann::json::parse(st.best_metrics);
  if (fs::exists(o.out) && !o.force)
    throw std::runtime_error(o.out + ": appeared during training; pass --force to overwrite it");
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  save_rcan(o.out, *net, {{"cosal.provenance", prov.dump()}});
  result.model = o.out;
  dp.wait_for_all();
  say(o, "wrote " + o.out + " (" + std::to_string(st.step) + " steps, " +
             format_duration(result.seconds) +
             (st.best_score >= 0 ? ", best validation Sm " + std::to_string(st.best_score) +
                                       " at step " + std::to_string(st.best_step)
                                 : std::string()) +
             ")");
  return result;
}

}  // namespace cosal::train
