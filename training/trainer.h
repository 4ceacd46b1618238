// cosal-train's engine: builds the training pool (real groups + synthetic
// groups), trains an RCAN head on cached frozen-backbone features (or the
// whole network), validates in streaming mode, keeps the best weights,
// checkpoints and resumes. No LibTorch in this header: the CLI stays light.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "launch_env.h"

namespace cosal::train {

struct TrainOptions {
  // --- data
  std::vector<std::string> davis;   // DAVIS roots
  std::vector<std::string> cosod;   // CoSOD roots, "PATH" or "PATH:MASKDIR"
  std::vector<std::string> groups;  // plain group-folder roots
  std::string exclude_list;         // exclusion file (text or pairs.csv)
  std::vector<std::string> exclude_groups;
  std::vector<std::string> val_groups;  // held out of training, validated on
  std::string val_data;                 // where val_groups live (default: the first DAVIS root)
  // Flat folders of unrelated photographs with masks (load_stills). A still
  // becomes a group of `stills_views` differently framed views of itself,
  // made once when the pool is built (see build_stills in trainer.cpp).
  std::vector<std::string> stills;
  double stills_fraction = 0.2;  // of all training steps, when there are stills
  int stills_views = 6;          // views per still in the pool
  std::string stamps;            // photo stamp folder ("" = no synthetic groups)
  // Labelled datasets (any layout load_any reads) whose masked objects are cut
  // out and join the photo stamps of the synthetic groups: a whole still, or
  // kCutoutsPerVideo frames spread over a video. Exclusions apply to them.
  std::vector<std::string> cutout_stamps;
  int synthetic_groups = 500;           // groups in the pool
  int synthetic_members = 6;            // images per synthetic pool group
  double synthetic_fraction = 0.5;      // of training steps
  double distractor_probability = 0.5;  // per synthetic group (group variants only)
  int backgrounds_per_frame = 1;
  int min_group = 2, max_group = 8;
  int max_frame_gap = 10;  // video: frames of a group are 1..gap apart
  // --- model
  std::string backbone = "mobilenet_v2";
  std::string backbone_weights;  // TFLite ImageNet MobileNetV2
  std::string variant = "rcau";
  std::string init;  // start from this model file instead
  int size = 224;    // input width, and height unless `height` is set
  int height = 0;    // input height (0: size, a square input)
  int input_height() const { return height > 0 ? height : size; }
  int sir_channels = 64, decoder_channels = 64;
  bool freeze_backbone = true;
  int finetune_last_blocks = 0;
  // Learning rate of fine-tuned backbone blocks relative to --lr: pretrained
  // features drift less than a fresh head needs to move.
  double backbone_lr_scale = 0.1;
  std::string feature_cache;   // encoded pool features: loaded if they match, else saved
  bool mirror = false;         // also train on left-right mirrored copies of the real images
  double boundary_weight = 0;  // F3Net pixel weights 1 + w·|avg(g) − g| on BCE and IoU (0: off)
  bool decoder_context = false;          // RcanConfig::decoder_context
  std::string decoder_blocks = "dense";  // RcanConfig::decoder_blocks
  // A random zoom crop, flip and colour each step: one draw per video group,
  // one per image of a still-image set (augment.h); images are encoded every
  // step (no cache).
  bool augment = false;
  // Share of the real steps drawn from still-image groups (CoSOD layout,
  // plain folders) rather than video; < 0: every real group equally likely.
  double still_fraction = -1;
  // Re-framed copies of every real group: K fixed random crops (40-90 % of
  // the area, narrower than the frame up to 0.6x aspect), each a group.
  int real_crops = 0;
  // --- optimisation
  std::string optimizer = "adam";  // adam | sgd
  double lr = 3e-4, momentum = 0.9, weight_decay = 0.0;
  std::string schedule = "cosine";  // cosine | step | constant
  int64_t warmup = 100;
  int64_t steps = 6000;
  double lambda = 0.1;         // co-perceptual loss weight
  double iou_weight = 0;       // soft IoU loss weight (not in the paper)
  int coperceptual_every = 1;  // compute it on every K-th step (0 = never)
  // Groups per step and rank: each group's loss is averaged, so B groups on
  // one rank and B/W groups on each of W ranks take the same steps.
  int batch_groups = 1;
  // Decay of an exponential moving average of the trained weights (0: off);
  // with one, validation, the best model and the final model use the average.
  double weight_average = 0;
  // --- run
  uint64_t seed = 1;
  int threads = 2;
  std::string device = "cpu";
  std::string out;  // final model
  bool force = false;
  std::string work_dir;  // checkpoints, log, best model (default: <out>.work)
  int64_t checkpoint_every = 500;
  bool resume = false;
  int64_t val_every = 250;
  int patience = 0;  // validations without improvement before stopping (0 = never)
  int val_window = 0, val_refresh = 0;
  int64_t stop_after = -1;  // checkpoint and stop after this step, as SIGINT would (tests)
  int64_t log_every = 10;   // a log.csv training row every N steps
  // This process's rank among the data-parallel ranks (default: the only
  // one). Only rank 0 writes the log, checkpoints, validation and the model.
  LaunchEnv launch;
  // A rank waits this long for the others in a step's collectives before it
  // fails the run (a stopped or hung peer; a dead one is noticed at once).
  double dist_timeout_s = 60;
  std::string command_line;
  bool quiet = false;
};

struct TrainResult {
  int64_t steps = 0;  // steps done in all (after a resume: in all runs)
  bool interrupted = false;
  bool early_stopped = false;
  double best_score = -1;
  int64_t best_step = -1;
  std::string best_metrics;  // JSON
  double seconds = 0;
  std::string model;  // written final model ("" if interrupted)
  // Real (not synthetic) groups and images trained on, copies included.
  int64_t pool_real_groups = 0, pool_real_images = 0;
  // Groups this process trained on from real video groups and from real
  // still-image groups (--cosod, --groups); one per step by default.
  int64_t video_steps = 0, still_steps = 0;
  // Groups this process trained on from --stills views and synthetic groups.
  int64_t stills_steps = 0, synthetic_steps = 0;
  int64_t pool_stills = 0;  // stills in the pool (groups of views)
  // Speeds by wall clock and by this process's CPU time (all threads): on a
  // shared machine the CPU figures are the ones that compare.
  double cache_images_per_s = 0, cache_images_per_cpu_s = 0;
  double steps_per_s = 0, steps_per_cpu_s = 0;
  // Mean CPU milliseconds per step: batch fetch, forward (+ losses), backward + optimizer.
  double fetch_cpu_ms = 0, forward_cpu_ms = 0, backward_cpu_ms = 0;
  double coperceptual_cpu_ms = 0;  // mean over the steps that computed it
};

// Throws std::invalid_argument naming the option whose value is out of range
// or inconsistent with another; touches no file. train() calls it first, and
// a command line can call it to report a usage error before loading data.
void check_options(const TrainOptions& options);

TrainResult train(const TrainOptions& options);

// Async-signal-safe: asks a running train() to checkpoint and return.
void request_stop();
void clear_stop_request();

}  // namespace cosal::train
