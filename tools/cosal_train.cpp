// cosal-train: trains an RCAN co-saliency model (see tools/train/trainer.h
// and model/MODEL_CARD.md for the default recipe).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "dataset.h"
#include "synthetic_groups.h"
#include "trainer.h"

using namespace cosal::train;

namespace {

const char* kUsage = R"(usage: cosal-train [options] --out MODEL.safetensors

Data (repeatable; at least one):
  --davis DIR              DAVIS layout (JPEGImages/480p/<seq>, Annotations/480p/<seq>)
  --cosod DIR[:MASKDIR]    CoSOD3k/CoSal2015 layout (Image/<group>, MASKDIR/<group>; default GroundTruth)
  --groups DIR             plain folder of groups (<group>/<img>.jpg + <img>.png)
  --exclude-list FILE      samples to leave out (text: group/name, group/*, name; or a pairs.csv with a qc column)
  --exclude-groups A,B     groups to leave out
  --val-groups A,B         held-out groups to validate on (never trained on)
  --val-data DIR           where the validation groups are (default: the first --davis)
  --stamps DIR             photo stamps (PNG with alpha) for synthetic groups (e.g. /usr/share/tuxpaint/stamps)
  --synthetic-groups N     synthetic groups in the pool (500)
  --synthetic-members N    images per synthetic group (6)
  --synthetic-fraction F   share of steps drawn from synthetic groups (0.5)
  --still-fraction F       share of the real steps drawn from still-image groups rather than
                           video (default: every real group equally likely)
  --distractor-probability P  per synthetic group, group variants only (0.5)
  --min-group N --max-group N  group size range per step (2..8)
  --max-frame-gap N        video frames of a group are 1..N apart (10)
Model:
  --backbone NAME          mobilenet_v2 | mobilenet_v2_os8 | vgg16 | tiny (mobilenet_v2)
  --backbone-weights FILE  MobileNetV2 .tflite to import: the ImageNet classifier or the
                           DeepLabV3-MobileNetV2 PASCAL model (its encoder)
  --variant NAME           rcau | baseline | convgru | rcau_no_reset | rcau_spatial | rcau_channel (rcau)
  --init MODEL             start from a trained model file
  --size N                 input size, a multiple of 16 (224); the width when --height is given
  --height N               input height for a non-square input (e.g. --size 400 --height 224
                           keeps 16:9 frames' aspect; default: square)
  --sir-channels N --decoder-channels N   head widths (64, 64)
  --decoder-context        a dilated conv and an image-pooling branch in the decoder (for
                           large objects; not in the paper)
  --no-freeze-backbone     train the backbone too (no feature cache; GPU advised)
  --finetune-last-blocks K train the last K MobileNetV2 blocks up to stride 16 (K <= 7 keeps
                           the feature cache: X is recomputed from the cached stride-8 tap)
  --backbone-lr-scale F    learning rate of fine-tuned blocks relative to --lr (0.1)
  --feature-cache FILE     frozen backbone: load the pool's features from FILE when they were
                           made for the same pool, else encode and save them there
  --mirror                 also train on left-right mirrored copies of the real images
  --augment                each step, a random zoom crop (up to 1.6x), flip and colour jitter
                           of every image; images are then encoded every step (no cache)
  --real-crops K           also train on K re-framed copies of every real group: one fixed random
                           crop per copy (40-90 % of the area, up to 0.6x narrower), as a zoom (0)
Optimisation:
  --optimizer adam|sgd (adam)  --lr F (3e-4)  --momentum F (0.9)  --weight-decay F (0)
  --schedule cosine|step|constant (cosine)  --warmup N (100)  --steps N (6000)
  --lambda F               co-perceptual loss weight (0.1; 0 = BCE only)
  --iou-weight F           add F x soft IoU loss to BCE (0; not in the paper: sharper, whole-object maps)
  --boundary-weight W      weight BCE and IoU pixels by 1 + W x |local mean of the mask - mask|
                           (F3Net; 0 = off; not in the paper: stresses edges and thin parts)
  --coperceptual-every K   compute the co-perceptual loss on every K-th step only (1)
  Paper recipe: --optimizer sgd --momentum 0.99 --lr 1e-5 --weight-decay 5e-4 --size 224 --lambda 0.1
Run:
  --out FILE               final model (refuses to overwrite without --force)
  --force                  overwrite the final model / start over in the work folder
  --work-dir DIR           checkpoints, log.csv, best.safetensors (default: OUT.work)
  --resume                 continue from the work folder's checkpoint
  --checkpoint-every N (500)  --val-every N (250)  --patience N (0 = no early stop)
  --val-window W --val-refresh R   streaming validation: re-seed G from the last W frames every R
  --seed N (1)  --threads N (2)  --device cpu|cuda[:N] (cpu)  --quiet
  --stop-after N           checkpoint and stop after step N (as SIGINT does)
  --list-stamps DIR        print which stamps the photo filter keeps and rejects, then exit
SIGINT/SIGTERM: saves a checkpoint and exits (status 130); rerun with --resume.
)";

extern "C" void on_signal(int) { request_stop(); }

int list_stamps(const std::string& dir) {
  std::vector<std::string> rejected;
  const auto stamps = load_stamps(dir, 256, &rejected);
  for (const auto& s : stamps) std::printf("keep %s\n", s.path.c_str());
  for (const auto& r : rejected) std::printf("reject %s\n", r.c_str());
  std::printf("%zu kept, %zu rejected\n", stamps.size(), rejected.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  TrainOptions o;
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);
  std::string list_stamps_dir;
  try {
    auto num = [](const std::string& k, const std::string& v) {
      size_t pos = 0;
      double d = 0;
      try {
        d = std::stod(v, &pos);
      } catch (const std::exception&) {
        pos = 0;
      }
      if (pos != v.size()) throw std::invalid_argument(k + ": not a number: '" + v + "'");
      return d;
    };
    using Setter = std::function<void(const std::string&, const std::string&)>;
    auto I = [&](auto& field) -> Setter {
      return [&field, num](const std::string& k, const std::string& v) {
        const double d = num(k, v);
        if (d != std::floor(d)) throw std::invalid_argument(k + ": not an integer: '" + v + "'");
        field = static_cast<std::remove_reference_t<decltype(field)>>(d);
      };
    };
    auto F = [&](double& field) -> Setter {
      return [&field, num](const std::string& k, const std::string& v) { field = num(k, v); };
    };
    auto S = [](std::string& field) -> Setter {
      return [&field](const std::string&, const std::string& v) { field = v; };
    };
    auto L = [](std::vector<std::string>& field) -> Setter {
      return [&field](const std::string&, const std::string& v) { field.push_back(v); };
    };
    auto CSV = [](std::vector<std::string>& field) -> Setter {
      return [&field](const std::string&, const std::string& v) {
        for (auto& x : split_list(v)) field.push_back(x);
      };
    };
    const std::map<std::string, Setter> with_value = {
        {"--davis", L(o.davis)},
        {"--cosod", L(o.cosod)},
        {"--groups", L(o.groups)},
        {"--exclude-list", S(o.exclude_list)},
        {"--exclude-groups", CSV(o.exclude_groups)},
        {"--val-groups", CSV(o.val_groups)},
        {"--val-data", S(o.val_data)},
        {"--stamps", S(o.stamps)},
        {"--synthetic-groups", I(o.synthetic_groups)},
        {"--synthetic-members", I(o.synthetic_members)},
        {"--synthetic-fraction", F(o.synthetic_fraction)},
        {"--still-fraction", F(o.still_fraction)},
        {"--distractor-probability", F(o.distractor_probability)},
        {"--backgrounds-per-frame", I(o.backgrounds_per_frame)},
        {"--min-group", I(o.min_group)},
        {"--max-group", I(o.max_group)},
        {"--max-frame-gap", I(o.max_frame_gap)},
        {"--backbone", S(o.backbone)},
        {"--backbone-weights", S(o.backbone_weights)},
        {"--variant", S(o.variant)},
        {"--init", S(o.init)},
        {"--size", I(o.size)},
        {"--height", I(o.height)},
        {"--real-crops", I(o.real_crops)},
        {"--sir-channels", I(o.sir_channels)},
        {"--decoder-channels", I(o.decoder_channels)},
        {"--finetune-last-blocks", I(o.finetune_last_blocks)},
        {"--backbone-lr-scale", F(o.backbone_lr_scale)},
        {"--feature-cache", S(o.feature_cache)},
        {"--optimizer", S(o.optimizer)},
        {"--lr", F(o.lr)},
        {"--momentum", F(o.momentum)},
        {"--weight-decay", F(o.weight_decay)},
        {"--schedule", S(o.schedule)},
        {"--warmup", I(o.warmup)},
        {"--steps", I(o.steps)},
        {"--lambda", F(o.lambda)},
        {"--iou-weight", F(o.iou_weight)},
        {"--boundary-weight", F(o.boundary_weight)},
        {"--coperceptual-every", I(o.coperceptual_every)},
        {"--seed", I(o.seed)},
        {"--threads", I(o.threads)},
        {"--device", S(o.device)},
        {"--out", S(o.out)},
        {"--work-dir", S(o.work_dir)},
        {"--checkpoint-every", I(o.checkpoint_every)},
        {"--val-every", I(o.val_every)},
        {"--patience", I(o.patience)},
        {"--val-window", I(o.val_window)},
        {"--val-refresh", I(o.val_refresh)},
        {"--stop-after", I(o.stop_after)},
        {"--list-stamps", S(list_stamps_dir)},
    };
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i], v;
      const auto eq = a.find('=');
      const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
      if (inline_value) {
        v = a.substr(eq + 1);
        a.resize(eq);
      }
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--force") {
        o.force = true;
      } else if (a == "--resume") {
        o.resume = true;
      } else if (a == "--quiet") {
        o.quiet = true;
      } else if (a == "--mirror") {
        o.mirror = true;
      } else if (a == "--decoder-context") {
        o.decoder_context = true;
      } else if (a == "--augment") {
        o.augment = true;
      } else if (a == "--no-freeze-backbone") {
        o.freeze_backbone = false;
      } else if (auto it = with_value.find(a); it != with_value.end()) {
        if (!inline_value) {
          if (i + 1 >= argc) throw std::invalid_argument(a + ": missing value");
          v = argv[++i];
        }
        it->second(a, v);
      } else {
        throw std::invalid_argument("unknown option '" + a + "' (see --help)");
      }
    }
    if (!list_stamps_dir.empty()) return list_stamps(list_stamps_dir);
    if (o.davis.empty() && o.cosod.empty() && o.groups.empty())
      throw std::invalid_argument("no training data (--davis, --cosod or --groups; see --help)");
    if (o.real_crops < 0 || o.real_crops > 64)
      throw std::invalid_argument("--real-crops: 0 to 64, not " + std::to_string(o.real_crops));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-train: %s\n", e.what());
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    const TrainResult r = train(o);
    std::fprintf(
        stderr,
        "cosal-train: %lld steps; speed: %.2f steps/s (%.2f per CPU-second: fetch %.0f, "
        "forward %.0f, backward+update %.0f CPU-ms/step; co-perceptual forward %.0f "
        "CPU-ms where computed), feature cache %.1f images/s (%.1f per CPU-second)%s\n",
        static_cast<long long>(r.steps), r.steps_per_s, r.steps_per_cpu_s, r.fetch_cpu_ms,
        r.forward_cpu_ms, r.backward_cpu_ms, r.coperceptual_cpu_ms, r.cache_images_per_s,
        r.cache_images_per_cpu_s,
        r.best_score >= 0 ? (", best validation Sm " + std::to_string(r.best_score)).c_str() : "");
    return r.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cosal-train: error: %s\n", e.what());
    return 1;
  }
}
