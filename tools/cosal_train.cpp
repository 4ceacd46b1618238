// cosal-train: trains an RCAN co-saliency model (see training/trainer.h
// and model/MODEL_CARD.md for the default recipe). The command line is
// GLib's GOptionContext; usage errors print "cosal-train: <message>" and
// exit with status 2.
#include <glib.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "dataset.h"
#include "launch_env.h"
#include "synthetic_groups.h"
#include "trainer.h"

using namespace cosal::train;

namespace {

const char* kSummary =
    "Trains an RCAN co-saliency network (backbone, SIR branch, recurrent co-attention unit,\n"
    "decoder) on groups of images: DAVIS video sequences, CoSOD-style image groups, still\n"
    "photos as groups of views of themselves, and synthetic groups of photo stamps.\n"
    "Checkpoints in the work folder let an interrupted run continue with --resume; the final\n"
    "model is the best validated weights when --val-groups is given, else the last ones.";

const char* kDescription =
    "Paper recipe: --optimizer sgd --momentum 0.99 --lr 1e-5 --weight-decay 5e-4 --size 224\n"
    "  --lambda 0.1. The project's default model: tools/train-default.sh.\n"
    "\n"
    "Data-parallel training: start one cosal-train per rank with the same options, under\n"
    "srun (srun -n 2 cosal-train ...: SLURM_PROCID, SLURM_STEP_NUM_TASKS, rank 0 on the\n"
    "step's first node) or as torchrun does (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT;\n"
    "MASTER_ADDR/MASTER_PORT also override Slurm's). Each step draws W x B groups, rank r\n"
    "trains on groups r*B..(r+1)*B-1 and the gradients are averaged, so W ranks with\n"
    "--batch-groups B take the steps of one process with W*B. Rank 0 writes the log,\n"
    "checkpoints, --feature-cache and the model, the other ranks read them; all ranks\n"
    "need the data and the work folder (a shared file system).\n"
    "\n"
    "SIGINT/SIGTERM: saves a checkpoint and exits (status 130; with several ranks, all of\n"
    "them stop at the same step); rerun with --resume. Exit status: 0 done, 1 error,\n"
    "2 usage error, 130 interrupted.";

extern "C" void on_signal(int) { request_stop(); }

int list_stamps(const std::string& dir) {
  std::vector<std::string> rejected;
  const auto stamps = load_stamps(dir, 256, &rejected);
  for (const auto& s : stamps) std::printf("keep %s\n", s.path.c_str());
  for (const auto& r : rejected) std::printf("reject %s\n", r.c_str());
  std::printf("%zu kept, %zu rejected\n", stamps.size(), rejected.size());
  return 0;
}

// GLib's option parser writes gchar* strings and gchar** arrays that the
// caller frees; these own them.
struct OwnedStr {
  gchar* s = nullptr;
  ~OwnedStr() { g_free(s); }
  std::string str() const { return s ? s : ""; }
};
struct OwnedStrv {
  gchar** v = nullptr;
  ~OwnedStrv() { g_strfreev(v); }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (gchar** p = v; p && *p; ++p) out.emplace_back(*p);
    return out;
  }
};

static_assert(std::is_same_v<gint, int> && std::is_same_v<gint64, int64_t> &&
                  std::is_same_v<gdouble, double>,
              "GOption writes TrainOptions' fields directly");

GOptionEntry flag(const char* name, gboolean* v, const char* help) {
  return {name, 0, 0, G_OPTION_ARG_NONE, v, help, nullptr};
}
GOptionEntry integer(const char* name, int* v, const char* help, const char* arg = "N") {
  return {name, 0, 0, G_OPTION_ARG_INT, v, help, arg};
}
GOptionEntry integer64(const char* name, int64_t* v, const char* help, const char* arg = "N") {
  return {name, 0, 0, G_OPTION_ARG_INT64, v, help, arg};
}
GOptionEntry real(const char* name, double* v, const char* help, const char* arg = "F") {
  return {name, 0, 0, G_OPTION_ARG_DOUBLE, v, help, arg};
}
GOptionEntry text(const char* name, OwnedStr* v, const char* help, const char* arg) {
  return {name, 0, 0, G_OPTION_ARG_STRING, &v->s, help, arg};
}
GOptionEntry texts(const char* name, OwnedStrv* v, const char* help, const char* arg) {
  return {name, 0, 0, G_OPTION_ARG_STRING_ARRAY, &v->v, help, arg};
}

// Adds a titled section; GLib keeps pointers into `entries`, which must
// outlive the context (they are static-lifetime vectors in main's scope).
void add_group(GOptionContext* ctx, const char* name, const char* title,
               std::vector<GOptionEntry>& entries) {
  entries.push_back(GOptionEntry{});  // the terminator
  GOptionGroup* g = g_option_group_new(name, title, title, nullptr, nullptr);
  g_option_group_add_entries(g, entries.data());
  g_option_context_add_group(ctx, g);
}

std::vector<std::string> comma_lists(const OwnedStrv& v) {
  std::vector<std::string> out;
  for (const auto& s : v.list())
    for (auto& x : split_list(s)) out.push_back(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  TrainOptions o;
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);

  OwnedStrv davis, cosod, groups, stills, exclude_groups, val_groups, cutout_stamps;
  OwnedStr exclude_list, val_data, stamps, backbone, backbone_weights, variant, init, feature_cache,
      optimizer, schedule, device, out, work_dir, list_stamps_dir, decoder_blocks;
  gboolean help = FALSE, force = FALSE, resume = FALSE, quiet = FALSE, mirror = FALSE,
           decoder_context = FALSE, augment = FALSE, freeze_backbone = TRUE;
  gint64 seed = static_cast<gint64>(o.seed);

  std::vector<GOptionEntry> data = {
      texts("davis", &davis, "DAVIS layout (JPEGImages/480p/<seq>, Annotations/480p/<seq>)", "DIR"),
      texts("cosod", &cosod,
            "CoSOD3k/CoSal2015 layout (Image/<group>, MASKDIR/<group>; GroundTruth)",
            "DIR[:MASKDIR]"),
      texts("groups", &groups, "Plain folder of groups (<group>/<img>.jpg + <img>.png)", "DIR"),
      // A still has no second image of its object; views of it make the
      // group the recurrent unit needs. Fixed views keep the feature cache.
      texts("stills", &stills,
            "Flat folder of photos with masks (images/<id>.jpg, masks/<id>.png); each photo is "
            "a group of --stills-views random zoom/flip/colour views of it, made once (cached)",
            "DIR"),
      real("stills-fraction", &o.stills_fraction,
           "Share of all steps drawn from --stills groups (0.2; with --synthetic-fraction at "
           "most 1)"),
      integer("stills-views", &o.stills_views,
              "Views per still in the pool (6); a step uses min..max group of them", "K"),
      text("exclude-list", &exclude_list,
           "Samples to leave out (lines group/name, group/*, name; or a pairs.csv with qc)",
           "FILE"),
      texts("exclude-groups", &exclude_groups, "Groups to leave out", "A,B"),
      texts("val-groups", &val_groups, "Held-out groups to validate on (never trained on)", "A,B"),
      text("val-data", &val_data, "Where the validation groups are (default: the first --davis)",
           "DIR"),
      text("stamps", &stamps, "Photo stamps (PNG with alpha) for synthetic groups (tuxpaint's)",
           "DIR"),
      texts("cutout-stamps", &cutout_stamps,
            "Labelled data (any layout) whose masked objects, cut out, join the stamps (4 "
            "frames per video)",
            "DIR"),
      integer("synthetic-groups", &o.synthetic_groups, "Synthetic groups in the pool (500)"),
      integer("synthetic-members", &o.synthetic_members, "Images per synthetic group (6)"),
      real("synthetic-fraction", &o.synthetic_fraction,
           "Share of steps drawn from synthetic groups (0.5)"),
      real("still-fraction", &o.still_fraction,
           "Share of real steps from still-image groups of --cosod/--groups, not --stills "
           "(default: by group count)"),
      real("distractor-probability", &o.distractor_probability,
           "Per synthetic group, group variants only (0.5)", "P"),
      integer("backgrounds-per-frame", &o.backgrounds_per_frame,
              "Object-free background crops taken from each video frame (1)"),
      integer("min-group", &o.min_group, "Smallest group per step (2)"),
      integer("max-group", &o.max_group, "Largest group per step (8)"),
      integer("max-frame-gap", &o.max_frame_gap, "Video frames of a group are 1..N apart (10)"),
  };
  std::vector<GOptionEntry> model = {
      text("backbone", &backbone, "mobilenet_v2 | mobilenet_v2_os8 | vgg16 | tiny (mobilenet_v2)",
           "NAME"),
      text("backbone-weights", &backbone_weights,
           "MobileNetV2 .tflite: ImageNet classifier or DeepLabV3 PASCAL (its encoder)", "FILE"),
      text("variant", &variant,
           "rcau | baseline | convgru | rcau_no_reset | rcau_spatial | rcau_channel (rcau)",
           "NAME"),
      text("init", &init, "Start from a trained model file", "MODEL"),
      integer("size", &o.size,
              "Input size, a multiple of 16 (224); the width when --height is given"),
      integer("height", &o.height,
              "Input height for a non-square input (default: square; 400 x 224 keeps 16:9)"),
      integer("sir-channels", &o.sir_channels, "SIR branch width (64)"),
      integer("decoder-channels", &o.decoder_channels, "Decoder width (64)"),
      flag("decoder-context", &decoder_context,
           "Dilated conv + image pooling in the decoder (large objects; not in the paper)"),
      text("decoder-blocks", &decoder_blocks,
           "Decoder blocks past its first conv: dense (default), bilinear (fixed bilinear x2 "
           "instead of learned deconvolutions), separable_stages (bilinear x2 and "
           "depthwise-separable convs at strides 8 and 4), separable (also at stride 16)",
           "NAME"),
      {"no-freeze-backbone", 0, G_OPTION_FLAG_REVERSE, G_OPTION_ARG_NONE, &freeze_backbone,
       "Train the backbone too (no feature cache; GPU advised)", nullptr},
      integer("finetune-last-blocks", &o.finetune_last_blocks,
              "Train the last K MobileNetV2 blocks to stride 16 (K <= 7 keeps the cache)", "K"),
      real("backbone-lr-scale", &o.backbone_lr_scale,
           "Learning rate of fine-tuned blocks relative to --lr (0.1)"),
      text("feature-cache", &feature_cache,
           "Frozen backbone: the pool's features, loaded if made for it, else written", "FILE"),
      flag("mirror", &mirror, "Also train on left-right mirrored copies of the real images"),
      flag("augment", &augment,
           "Random zoom crop (to 1.6x), flip and colours each step (no feature cache)"),
      integer("real-crops", &o.real_crops,
              "Also K fixed random re-framings (40-90 % of the area) of each real group (0)", "K"),
  };
  std::vector<GOptionEntry> optimisation = {
      text("optimizer", &optimizer, "adam | sgd (adam)", "NAME"),
      real("lr", &o.lr, "Learning rate (3e-4)"),
      real("momentum", &o.momentum, "SGD momentum (0.9)"),
      real("weight-decay", &o.weight_decay, "Weight decay (0)"),
      text("schedule", &schedule, "cosine | step | constant (cosine)", "NAME"),
      integer64("warmup", &o.warmup, "Linear warm-up steps (100)"),
      integer64("steps", &o.steps, "Optimizer steps (6000)"),
      integer("batch-groups", &o.batch_groups,
              "Groups per step and rank, their losses averaged (1: one group per step)", "B"),
      real("weight-average", &o.weight_average,
           "Validate and keep a moving average of the weights with decay D (0 = off; 0.999)", "D"),
      real("lambda", &o.lambda, "Co-perceptual loss weight (0.1; 0 = BCE only)"),
      real("iou-weight", &o.iou_weight, "Add F x soft IoU loss to BCE (0; not in the paper)"),
      real("boundary-weight", &o.boundary_weight,
           "F3Net pixel weights 1 + W x |local mean(mask) - mask| on BCE and IoU (0 = off)", "W"),
      integer("coperceptual-every", &o.coperceptual_every,
              "Compute the co-perceptual loss on every K-th step only (1)", "K"),
  };
  std::vector<GOptionEntry> run = {
      // GLib's own --help prints only the main group; this one prints them all.
      {"help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help and exit", nullptr},
      text("out", &out, "Final model (refuses to overwrite without --force)", "FILE"),
      flag("force", &force, "Overwrite the final model / start over in the work folder"),
      text("work-dir", &work_dir, "Checkpoints, log.csv, best.safetensors (default: OUT.work)",
           "DIR"),
      flag("resume", &resume, "Continue from the work folder's checkpoint"),
      integer64("checkpoint-every", &o.checkpoint_every, "Checkpoint every N steps (500)"),
      integer64("val-every", &o.val_every, "Validate every N steps (250)"),
      integer("patience", &o.patience,
              "Validations without improvement before stopping (0 = no early stop)"),
      integer("val-window", &o.val_window,
              "Streaming validation: re-seed the group feature from the last W frames", "W"),
      integer("val-refresh", &o.val_refresh, "... every R frames", "R"),
      integer64("log-every", &o.log_every, "A log.csv training row every N steps (10)"),
      {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (1)", "N"},
      integer("threads", &o.threads, "Intra-op threads (2; per rank)"),
      text("device", &device, "cpu | cuda[:N] (cpu)", "DEV"),
      flag("quiet", &quiet, "No progress output"),
      integer64("stop-after", &o.stop_after, "Checkpoint and stop after step N (as SIGINT does)"),
      real("dist-timeout", &o.dist_timeout_s,
           "Seconds a rank waits for the others at start and at a step (60)", "S"),
      text("list-stamps", &list_stamps_dir,
           "Print which stamps the photo filter keeps and rejects, then exit", "DIR"),
  };

  std::unique_ptr<GOptionContext, decltype(&g_option_context_free)> ctx(
      g_option_context_new("--out MODEL.safetensors"), &g_option_context_free);
  g_option_context_set_summary(ctx.get(), kSummary);
  g_option_context_set_description(ctx.get(), kDescription);
  g_option_context_set_help_enabled(ctx.get(), FALSE);
  add_group(ctx.get(), "data",
            "Data (--davis, --cosod, --groups, --stills repeatable; at least one):", data);
  add_group(ctx.get(), "model", "Model:", model);
  add_group(ctx.get(), "optimisation", "Optimisation:", optimisation);
  add_group(ctx.get(), "run", "Run:", run);

  try {
    GError* error = nullptr;
    if (!g_option_context_parse(ctx.get(), &argc, &argv, &error)) {
      const std::string msg = error->message;
      g_error_free(error);
      throw std::invalid_argument(msg + " (see --help)");
    }
    if (help) {
      gchar* text = g_option_context_get_help(ctx.get(), FALSE, nullptr);
      std::fputs(text, stdout);
      g_free(text);
      return 0;
    }
    if (argc > 1)
      throw std::invalid_argument("unexpected argument '" + std::string(argv[1]) +
                                  "' (see --help)");
    o.davis = davis.list();
    o.cosod = cosod.list();
    o.groups = groups.list();
    o.stills = stills.list();
    o.cutout_stamps = cutout_stamps.list();
    o.exclude_groups = comma_lists(exclude_groups);
    o.val_groups = comma_lists(val_groups);
    auto set = [](std::string& field, const OwnedStr& v) {
      if (v.s) field = v.str();
    };
    set(o.exclude_list, exclude_list);
    set(o.val_data, val_data);
    set(o.stamps, stamps);
    set(o.backbone, backbone);
    set(o.backbone_weights, backbone_weights);
    set(o.variant, variant);
    set(o.decoder_blocks, decoder_blocks);
    set(o.init, init);
    set(o.feature_cache, feature_cache);
    set(o.optimizer, optimizer);
    set(o.schedule, schedule);
    set(o.device, device);
    set(o.out, out);
    set(o.work_dir, work_dir);
    o.force = force;
    o.resume = resume;
    o.quiet = quiet;
    o.mirror = mirror;
    o.decoder_context = decoder_context;
    o.augment = augment;
    o.freeze_backbone = freeze_backbone;
    if (seed < 0) throw std::invalid_argument("--seed: not negative");
    o.seed = static_cast<uint64_t>(seed);

    if (list_stamps_dir.s) return list_stamps(list_stamps_dir.str());
    if (o.davis.empty() && o.cosod.empty() && o.groups.empty() && o.stills.empty())
      throw std::invalid_argument(
          "no training data (--davis, --cosod, --groups or --stills; see --help)");
    cosal::train::check_options(o);
    o.launch = launch_from_environment();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-train: %s\n", e.what());
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // With several ranks, each names itself in what it prints.
  const std::string who = o.launch.distributed()
                              ? "cosal-train: rank " + std::to_string(o.launch.rank) + ": "
                              : "cosal-train: ";
  try {
    const TrainResult r = train(o);
    if (o.launch.rank == 0) {
      // This process's groups (one rank's share when there are several).
      std::fprintf(stderr,
                   "cosal-train: groups trained on: %lld video, %lld still-image, %lld stills "
                   "views, %lld synthetic\n",
                   static_cast<long long>(r.video_steps), static_cast<long long>(r.still_steps),
                   static_cast<long long>(r.stills_steps),
                   static_cast<long long>(r.synthetic_steps));
      std::fprintf(stderr,
                   "cosal-train: %lld steps; speed: %.2f steps/s (%.2f per CPU-second: fetch %.0f, "
                   "forward %.0f, backward+update %.0f CPU-ms/step; co-perceptual forward %.0f "
                   "CPU-ms where computed), feature cache %.1f images/s (%.1f per CPU-second)%s\n",
                   static_cast<long long>(r.steps), r.steps_per_s, r.steps_per_cpu_s,
                   r.fetch_cpu_ms, r.forward_cpu_ms, r.backward_cpu_ms, r.coperceptual_cpu_ms,
                   r.cache_images_per_s, r.cache_images_per_cpu_s,
                   r.best_score >= 0
                       ? (", best validation Sm " + std::to_string(r.best_score)).c_str()
                       : "");
    }
    return r.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%serror: %s\n", who.c_str(), e.what());
    return 1;
  }
}
