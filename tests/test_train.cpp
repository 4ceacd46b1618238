// cosal-train end to end on a tiny generated DAVIS tree with the tiny
// backbone: writes a loadable model with provenance, refuses to overwrite,
// and an interrupted + resumed run reproduces the uninterrupted one.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "image.h"
#include "rcan_io.h"
#include "tiny_training_data.h"
#include "trainer.h"
#include "weights_compare.h"
#include "weights_io.h"

namespace fs = std::filesystem;
using namespace cosal;
using namespace cosal::train;
using cosal::test::max_weight_difference;

namespace {

const fs::path& root() {
  static const fs::path r = [] {
    // Three sequences of 8 frames, 80x48 (not the 64x64 the model runs at),
    // 3 stamps, still images in a plain folder of groups, and stills.
    const fs::path p = cosal::test::write_tiny_training_data("cosal-train-test", {});
    // Still images in a plain folder of groups: 2 groups of 3, a disc each.
    for (int g = 0; g < 2; ++g) {
      const fs::path dir = p / "plain-groups" / ("group" + std::to_string(g));
      fs::create_directories(dir);
      for (int k = 0; k < 3; ++k) {
        Image img(64, 64, 3), mask(64, 64, 1);
        for (int y = 0; y < 64; ++y)
          for (int x = 0; x < 64; ++x) {
            const bool in = std::hypot(x - 20 - 8 * k, y - 30) < 12;
            uint8_t* px = img.row(y) + x * 3;
            px[0] = static_cast<uint8_t>(in ? 30 : (x * 3 + g * 70) % 200);
            px[1] = static_cast<uint8_t>(in ? 200 : (y * 5) % 200);
            px[2] = static_cast<uint8_t>(in ? 60 + g * 50 : (x + y) % 90);
            mask.row(y)[x] = in ? 255 : 0;
          }
        const std::string name = "img" + std::to_string(k);
        save_png((dir / (name + ".jpg")).string(), img);
        save_png((dir / (name + ".png")).string(), mask);
      }
    }
    // Three unrelated stills with masks (SOD's layout), landscape and
    // portrait: a textured ellipse on a textured background each.
    fs::create_directories(p / "stills/images");
    fs::create_directories(p / "stills/masks");
    for (int k = 0; k < 3; ++k) {
      const int w = k == 1 ? 48 : 72, h = k == 1 ? 72 : 48;
      Image img(w, h, 3), mask(w, h, 1);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const bool in = std::hypot((x - w / 2.0) / (w / 4.0), (y - h / 2.0) / (h / 3.0)) < 1;
          uint8_t* px = img.row(y) + x * 3;
          px[0] = static_cast<uint8_t>(in ? 200 - 40 * k : (x * 4 + y) % 100);
          px[1] = static_cast<uint8_t>(in ? (x * y) % 80 : 100 + (y * 3) % 100);
          px[2] = static_cast<uint8_t>(in ? 50 * k : (x + 2 * y) % 150);
          mask.row(y)[x] = in ? 255 : 0;
        }
      const std::string id = std::to_string(100 + k);
      save_png((p / "stills/images" / (id + ".jpg")).string(), img);
      save_png((p / "stills/masks" / (id + ".png")).string(), mask);
    }
    return p;
  }();
  return r;
}
const auto* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new cosal::test::RemoveAtExit([] { return root(); }));

TrainOptions tiny_options(const std::string& name) {
  TrainOptions o;
  o.davis = {(root() / "davis").string()};
  o.stamps = (root() / "stamps").string();
  o.synthetic_groups = 4;
  o.synthetic_members = 3;
  o.backgrounds_per_frame = 2;
  o.backbone = "tiny";
  o.size = 64;
  o.sir_channels = 8;
  o.decoder_channels = 8;
  o.min_group = 2;
  o.max_group = 4;
  o.steps = 10;
  o.warmup = 2;
  o.lr = 1e-3;
  o.lambda = 0.1;
  o.coperceptual_every = 2;
  o.checkpoint_every = 4;
  o.val_every = 0;
  o.threads = 1;  // tiny tensors: a second thread only adds overhead
  o.seed = 5;
  o.quiet = true;
  o.out = (root() / name / "model.safetensors").string();
  o.work_dir = (root() / name / "work").string();
  return o;
}

TrainResult run_training(const TrainOptions& o) { return cosal::train::train(o); }

// Runs `o` until it stops after `step` steps (checkpointed, interrupted) and
// returns the same options set to resume that run.
TrainOptions interrupted_at(TrainOptions o, int64_t step) {
  o.stop_after = step;
  EXPECT_TRUE(run_training(o).interrupted);
  o.stop_after = -1;
  o.resume = true;
  return o;
}

}  // namespace

TEST(Train, TinyRunWritesALoadableModelWithProvenance) {
  TrainOptions o = tiny_options("e2e");
  o.val_groups = {"seq2"};
  o.val_every = 5;
  o.command_line = "cosal-train (test)";
  const TrainResult r = run_training(o);
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.steps, 10);
  EXPECT_EQ(r.model, o.out);
  EXPECT_GE(r.best_score, 0.0);
  EXPECT_LE(r.best_score, 1.0);
  EXPECT_TRUE(r.best_step == 5 || r.best_step == 10) << r.best_step;

  std::map<std::string, std::string> meta;
  Rcan net = load_rcan(o.out, &meta);
  EXPECT_EQ(net->config().backbone, "tiny");
  EXPECT_EQ(net->config().input_width, 64);
  ASSERT_TRUE(meta.count("cosal.provenance"));
  const auto prov = nlohmann::json::parse(meta["cosal.provenance"]);
  EXPECT_EQ(prov["steps"], 10);
  EXPECT_EQ(prov["command"], "cosal-train (test)");
  EXPECT_EQ(prov["val_groups"][0], "seq2");
  EXPECT_EQ(prov["train_groups"], "seq0,seq1") << "the validation group must not be trained on";
  EXPECT_TRUE(prov.contains("validation"));
  // The network runs on a new group.
  torch::NoGradGuard ng;
  const auto out = net->forward(torch::rand({3, 3, 64, 64}));
  EXPECT_EQ(out.masks.sizes(), torch::IntArrayRef({3, 1, 64, 64}));

  // log.csv has training and validation rows, all with the header's columns.
  std::ifstream log(fs::path(o.work_dir) / "log.csv");
  std::string line, all;
  int rows = 0, validations = 0;
  while (std::getline(log, line)) {
    if (rows == 0) {
      EXPECT_EQ(line, "step,lr,loss,bce,coperceptual,elapsed_s,val_sm,val_mae,val_iou,val_f");
    }
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 9) << line;
    if (rows > 0 && line.back() != ',') ++validations;
    ++rows;
    all += line + "\n";
  }
  EXPECT_GE(rows, 3) << all;
  EXPECT_GE(validations, 1) << all;

  // Never overwrites the final model without --force.
  try {
    run_training(o);
    FAIL() << "overwrote " << o.out;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
  }
}

TEST(Train, RealCropsAddReframedCopiesOfEveryRealGroup) {
  TrainOptions o = tiny_options("crops");
  o.val_groups = {"seq2"};
  o.steps = 2;
  const TrainResult plain = run_training(o);
  EXPECT_EQ(plain.pool_real_groups, 2);
  EXPECT_EQ(plain.pool_real_images, 16);

  o.force = true;
  o.real_crops = 3;
  const TrainResult cropped = run_training(o);
  EXPECT_EQ(cropped.pool_real_groups, 2 * 4) << "each group and its 3 re-framed copies";
  EXPECT_EQ(cropped.pool_real_images, 16 * 4);
  EXPECT_EQ(cropped.steps, 2);
}

// A non-square input (--size W --height H), augmentation, boundary weights
// and the decoder context all train end to end and reach the model file.
TEST(Train, NonSquareAugmentedRunWithBoundaryWeightsAndDecoderContext) {
  TrainOptions o = tiny_options("wide");
  o.val_groups = {"seq2"};
  o.val_every = 4;
  o.steps = 4;
  o.size = 96;
  o.height = 48;
  o.augment = true;
  o.boundary_weight = 5;
  o.decoder_context = true;
  const TrainResult r = run_training(o);
  EXPECT_EQ(r.steps, 4);
  EXPECT_GE(r.best_score, 0.0);
  std::map<std::string, std::string> meta;
  Rcan net = load_rcan(o.out, &meta);
  EXPECT_EQ(net->config().input_width, 96);
  EXPECT_EQ(net->config().input_height, 48);
  EXPECT_TRUE(net->config().decoder_context);
  const auto prov = nlohmann::json::parse(meta["cosal.provenance"]);
  EXPECT_EQ(prov["recipe"]["height"], 48);
  EXPECT_EQ(prov["recipe"]["augment"], true);
  EXPECT_EQ(prov["recipe"]["boundary_weight"], 5.0);
  torch::NoGradGuard ng;
  EXPECT_EQ(net->forward(torch::rand({2, 3, 48, 96})).masks.sizes(),
            torch::IntArrayRef({2, 1, 48, 96}));

  o.force = true;
  o.height = 50;  // not a multiple of the backbone's stride
  EXPECT_THROW(run_training(o), std::exception);
}

// --still-fraction sets the share of real steps from still-image groups;
// without it every real group is equally likely.
TEST(Train, StillFractionSplitsTheRealSteps) {
  TrainOptions o = tiny_options("still");
  o.groups = {(root() / "plain-groups").string()};
  o.synthetic_fraction = 0;
  o.steps = 24;
  o.lambda = 0;
  for (double f : {0.0, 1.0, -1.0}) {
    SCOPED_TRACE(f);
    o.still_fraction = f;
    o.force = true;
    const TrainResult r = run_training(o);
    EXPECT_EQ(r.video_steps + r.still_steps, 24);
    if (f == 0.0) {
      EXPECT_EQ(r.still_steps, 0);
    } else if (f == 1.0) {
      EXPECT_EQ(r.video_steps, 0);
    } else {  // 3 video + 2 still groups, uniformly: both kinds within 24 steps
      EXPECT_GT(r.video_steps, 0);
      EXPECT_GT(r.still_steps, 0);
    }
  }
}

// --stills: each still is a group of --stills-views views in the pool, and
// --stills-fraction is its share of all steps, beside the synthetic share.
TEST(Train, StillsAreGroupsOfViewsWithTheirShareOfSteps) {
  TrainOptions o = tiny_options("stills");
  o.stills = {(root() / "stills").string()};
  o.stills_views = 4;
  o.steps = 24;
  o.lambda = 0;
  o.checkpoint_every = 0;
  struct Case {
    double stills, synthetic;
  };
  for (const Case c : {Case{0.0, 0.25}, Case{1.0, 0.0}, Case{0.4, 0.3}}) {
    SCOPED_TRACE(std::to_string(c.stills) + " " + std::to_string(c.synthetic));
    o.stills_fraction = c.stills;
    o.synthetic_fraction = c.synthetic;
    o.force = true;
    const TrainResult r = run_training(o);
    EXPECT_EQ(r.pool_stills, 3);
    EXPECT_EQ(r.pool_real_images, 3 * 8) << "stills are not among the real groups";
    EXPECT_EQ(r.video_steps + r.still_steps + r.stills_steps + r.synthetic_steps, 24);
    EXPECT_EQ(r.still_steps, 0);
    if (c.stills == 0) {
      EXPECT_EQ(r.stills_steps, 0);
    } else if (c.stills == 1) {
      EXPECT_EQ(r.stills_steps, 24);
    } else {
      EXPECT_GT(r.stills_steps, 0);
      EXPECT_GT(r.synthetic_steps, 0);
      EXPECT_GT(r.video_steps, 0);
    }
  }
  std::map<std::string, std::string> meta;
  load_rcan(o.out, &meta);
  const auto prov = nlohmann::json::parse(meta["cosal.provenance"]);
  EXPECT_EQ(prov["stills"], 3);
  EXPECT_EQ(prov["recipe"]["stills_views"], 4);

  // Both shares are of all steps, so together at most 1.
  o.stills_fraction = 0.8;
  o.synthetic_fraction = 0.5;
  EXPECT_THROW(run_training(o), std::invalid_argument);

  // Stills alone are enough data; an excluded still leaves the pool.
  TrainOptions only = tiny_options("stills-only");
  only.davis.clear();
  only.stamps.clear();
  only.stills = {(root() / "stills").string()};
  only.exclude_groups = {"101"};
  only.steps = 6;
  only.lambda = 0;
  const TrainResult r = run_training(only);
  EXPECT_EQ(r.steps, 6);
  EXPECT_EQ(r.pool_stills, 2);
  EXPECT_EQ(r.stills_steps, 6);
  EXPECT_TRUE(fs::exists(only.out));
}

// --cutout-stamps: the masked objects of labelled data are the synthetic
// groups' stamps (here without any photo stamps), and exclusions (the
// validation groups among them) keep their objects out.
TEST(Train, CutoutStampsMakeSyntheticGroupsWithoutPhotoStamps) {
  TrainOptions o = tiny_options("cutouts");
  o.stamps.clear();
  o.cutout_stamps = {(root() / "stills").string()};
  o.exclude_groups = {"101"};
  o.synthetic_fraction = 0.5;
  o.steps = 8;
  o.lambda = 0;
  o.checkpoint_every = 0;
  const TrainResult r = run_training(o);
  EXPECT_GT(r.synthetic_steps, 0);
  std::map<std::string, std::string> meta;
  load_rcan(o.out, &meta);
  EXPECT_EQ(nlohmann::json::parse(meta["cosal.provenance"])["recipe"]["cutout_stamps"], 2)
      << "3 stills, one excluded";

  // Without photo stamps or cut-outs there is nothing to paste.
  TrainOptions none = tiny_options("cutouts-none");
  none.stamps.clear();
  none.steps = 4;
  EXPECT_EQ(run_training(none).synthetic_steps, 0);
}

// The command line: --stills (repeatable) and --stills-fraction reach the
// trainer, and the summary counts the groups trained on from stills.
TEST(Train, CommandLineTrainsOnStills) {
  const fs::path exe = cosal::test::cosal_train_exe();
  if (exe.empty() || !fs::exists(exe)) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  const fs::path run = root() / "stills-cli";
  fs::create_directories(run);
  auto command = [&](const std::vector<std::string>& data, const std::string& name) {
    std::string cmd = exe.string();
    for (const auto& a : data) cmd += " '" + a + "'";
    return cmd + " --stills-views 3 --steps 12 --warmup 2 --lambda 0 --val-every 0" +
           " --checkpoint-every 0 --threads 1 --seed 3 --out " +
           (run / (name + ".safetensors")).string() + " --work-dir " +
           (run / (name + ".work")).string() + " > " + (run / (name + ".log")).string() + " 2>&1";
  };
  auto read = [&](const std::string& name) {
    std::ifstream in(run / (name + ".log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Video, synthetic groups and stills: the stills' share is used.
  auto mixed = cosal::test::tiny_cli_args(root());
  mixed.insert(mixed.end(), {"--stills", (root() / "stills").string(), "--stills-fraction", "0.5",
                             "--synthetic-fraction", "0.2"});
  ASSERT_EQ(std::system(command(mixed, "mixed").c_str()), 0) << read("mixed");
  const std::string log = read("mixed");
  EXPECT_NE(log.find("+ 3 stills of 3 views"), std::string::npos) << log;
  unsigned long long video = 0, still = 0, stills = 0, synthetic = 0;
  const auto at = log.find("groups trained on: ");
  ASSERT_NE(at, std::string::npos) << log;
  ASSERT_EQ(std::sscanf(log.c_str() + at,
                        "groups trained on: %llu video, %llu still-image, %llu stills views, "
                        "%llu synthetic",
                        &video, &still, &stills, &synthetic),
            4)
      << log;
  EXPECT_EQ(video + still + stills + synthetic, 12u);
  EXPECT_GT(stills, 0u) << log;
  EXPECT_GT(video, 0u) << log;

  // Stills alone (the same folder twice: every photo twice in the pool).
  auto only = cosal::test::tiny_net_args();
  only.insert(only.end(),
              {"--stills", (root() / "stills").string(), "--stills", (root() / "stills").string()});
  ASSERT_EQ(std::system(command(only, "only").c_str()), 0) << read("only");
  EXPECT_NE(read("only").find("+ 6 stills of 3 views"), std::string::npos) << read("only");
  EXPECT_NE(read("only").find("0 video, 0 still-image, 12 stills views, 0 synthetic"),
            std::string::npos)
      << read("only");

  // An option out of range is a usage error (exit 2) naming the option,
  // from the trainer's own check, before any data is read: the same rule
  // as in the library call above.
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"--batch-groups", "0"},
                                                        {"--weight-average", "1"},
                                                        {"--real-crops", "65"},
                                                        {"--stills-fraction", "1.5"}}) {
    auto bad = cosal::test::tiny_cli_args(root());
    bad.insert(bad.end(), {"--stills", (root() / "stills").string(), option, value});
    const int rc = std::system(command(bad, "bad").c_str());
    ASSERT_TRUE(WIFEXITED(rc)) << option;
    EXPECT_EQ(WEXITSTATUS(rc), 2) << option << ": " << read("bad");
    EXPECT_NE(read("bad").find(option), std::string::npos) << read("bad");
    EXPECT_FALSE(fs::exists(run / "bad.safetensors")) << option;
  }
}

TEST(Train, ResumedRunReproducesTheUninterruptedRun) {
  const TrainOptions full = tiny_options("full");
  const TrainResult a = run_training(full);
  ASSERT_FALSE(a.interrupted);
  // The same seed twice gives the same model.
  const TrainOptions again = tiny_options("again");
  run_training(again);
  EXPECT_LE(max_weight_difference(full.out, again.out), 1e-6);

  TrainOptions part = tiny_options("parts");
  part.stop_after = 5;  // a checkpoint between the periodic ones (4, 8)
  const TrainResult b1 = run_training(part);
  EXPECT_TRUE(b1.interrupted);
  EXPECT_EQ(b1.steps, 5);
  EXPECT_FALSE(fs::exists(part.out)) << "an interrupted run must not write the final model";
  // Without --resume (or --force) a fresh run refuses to clobber the checkpoint.
  EXPECT_THROW(run_training(part), std::runtime_error);

  part.stop_after = -1;
  part.resume = true;
  const TrainResult b2 = run_training(part);
  EXPECT_FALSE(b2.interrupted);
  EXPECT_EQ(b2.steps, 10);
  EXPECT_LE(max_weight_difference(full.out, part.out), 1e-6);

  // A different seed gives a different model: the comparison can fail.
  TrainOptions other = tiny_options("other");
  other.seed = 6;
  run_training(other);
  EXPECT_GT(max_weight_difference(full.out, other.out), 1e-4);
}

// --batch-groups B: B groups per step, their losses averaged. Augmented
// groups then draw from generators of their own, seeded from the shared
// one, and a stopped and resumed run still reproduces the whole one.
TEST(Train, BatchOfGroupsPerStepResumesAndDiffersFromOneGroup) {
  TrainOptions o = tiny_options("batch");
  o.batch_groups = 3;
  o.augment = true;
  o.steps = 6;
  o.checkpoint_every = 0;
  o.synthetic_fraction = 0;
  const TrainResult a = run_training(o);
  EXPECT_EQ(a.steps, 6);
  EXPECT_EQ(a.video_steps, 6 * 3) << "every group counts";
  std::map<std::string, std::string> meta;
  load_rcan(o.out, &meta);
  EXPECT_EQ(nlohmann::json::parse(meta["cosal.provenance"])["recipe"]["batch_groups"], 3);

  TrainOptions part = tiny_options("batch-parts");
  part.batch_groups = 3;
  part.augment = true;
  part.steps = 6;
  part.checkpoint_every = 0;
  part.synthetic_fraction = 0;
  EXPECT_EQ(run_training(interrupted_at(part, 2)).steps, 6);
  EXPECT_LE(max_weight_difference(o.out, part.out), 1e-6);

  TrainOptions single = tiny_options("batch-single");
  single.augment = true;
  single.synthetic_fraction = 0;
  single.steps = 6;
  run_training(single);
  EXPECT_GT(max_weight_difference(o.out, single.out), 1e-4);
  EXPECT_FALSE(nlohmann::json::parse([&] {
                 std::map<std::string, std::string> m;
                 load_rcan(single.out, &m);
                 return m["cosal.provenance"];
               }())["recipe"]
                   .contains("batch_groups"))
      << "a default run's provenance is unchanged";
}

// --weight-average D: the model written is the weights' moving average, and
// the average travels in the checkpoint, so a resumed run still reproduces
// the whole one (restarting the average from the resumed weights would not).
TEST(Train, WeightAverageIsCheckpointedAndWritten) {
  TrainOptions o = tiny_options("average");
  o.weight_average = 0.9;
  run_training(o);
  std::map<std::string, std::string> meta;
  load_rcan(o.out, &meta);
  EXPECT_DOUBLE_EQ(
      nlohmann::json::parse(meta["cosal.provenance"])["recipe"]["weight_average"].get<double>(),
      0.9);

  TrainOptions part = tiny_options("average-parts");
  part.weight_average = 0.9;
  EXPECT_EQ(run_training(interrupted_at(part, 5)).steps, 10);
  EXPECT_LE(max_weight_difference(o.out, part.out), 1e-6);

  // The same seed without the average: the last step's weights, not the same.
  const TrainOptions plain = tiny_options("average-off");
  run_training(plain);
  EXPECT_GT(max_weight_difference(o.out, plain.out), 1e-4);

  // A checkpoint without an average cannot resume a run that asks for one.
  TrainOptions mixed = interrupted_at(tiny_options("average-mixed"), 5);
  mixed.weight_average = 0.9;
  EXPECT_THROW(run_training(mixed), std::runtime_error);
}

// A checkpoint gives back exactly what was saved, at any step: the state
// was once read through a reused tensor and came back truncated to its
// lowest byte past step 255 (776 read as 8), with a nonsense best score.
TEST(Checkpoint, RoundTripsEveryFieldPastOneByte) {
  torch::nn::Linear net(3, 2);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  TrainState st;
  st.step = 776;
  st.rng = "rng state 12345";
  st.best_score = 0.8101;
  st.best_step = 500;
  st.bad_validations = 300;
  st.elapsed_s = 1234.5;
  st.best_metrics = "{\"s_measure\":0.8101}";
  const std::string path = (root() / "roundtrip.pt").string();
  save_checkpoint(path, *net, opt, st);
  torch::nn::Linear other(3, 2);
  torch::optim::Adam other_opt(other->parameters(), torch::optim::AdamOptions(1e-3));
  const TrainState got = load_checkpoint(path, *other, other_opt);
  EXPECT_EQ(got.step, 776);
  EXPECT_EQ(got.rng, st.rng);
  EXPECT_DOUBLE_EQ(got.best_score, 0.8101);
  EXPECT_EQ(got.best_step, 500);
  EXPECT_EQ(got.bad_validations, 300);
  EXPECT_DOUBLE_EQ(got.elapsed_s, 1234.5);
  EXPECT_EQ(got.best_metrics, st.best_metrics);
  EXPECT_TRUE(torch::equal(other->weight, net->weight));
}

TEST(Train, StopRequestCheckpointsAndResumes) {
  TrainOptions o = tiny_options("signal");
  // What the SIGINT handler does. Before the first step (loading, encoding)
  // the run stops at once: nothing to checkpoint, nothing written.
  request_stop();
  const TrainResult r0 = run_training(o);
  clear_stop_request();
  EXPECT_TRUE(r0.interrupted);
  EXPECT_EQ(r0.steps, 0);
  EXPECT_FALSE(fs::exists(fs::path(o.work_dir) / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(o.out));
  // During training it checkpoints at the next step and returns (stop_after
  // is the same code path at a known step).
  o.stop_after = 4;
  const TrainResult r1 = run_training(o);
  EXPECT_TRUE(r1.interrupted);
  EXPECT_EQ(r1.steps, 4);
  EXPECT_TRUE(fs::exists(fs::path(o.work_dir) / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(o.out));
  o.stop_after = -1;
  o.resume = true;
  const TrainResult r2 = run_training(o);
  EXPECT_EQ(r2.steps, 10);
  EXPECT_TRUE(fs::exists(o.out));
}

TEST(Train, BadOptionsAndDataGiveClearErrors) {
  // The run fails with an error that names what was wrong.
  auto expect_error_naming = [](const TrainOptions& bad, const std::string& name) {
    try {
      run_training(bad);
      ADD_FAILURE() << "no error naming " << name;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  TrainOptions o = tiny_options("bad");
  o.val_groups = {"no-such-sequence"};
  expect_error_naming(o, "no-such-sequence");
  o = tiny_options("bad2");
  o.optimizer = "rmsprop";
  EXPECT_THROW(run_training(o), std::invalid_argument);
  o = tiny_options("bad3");
  o.davis = {(root() / "nowhere").string()};
  expect_error_naming(o, "nowhere");
  o = tiny_options("bad4");
  o.weight_average = 1.0;  // would never move from the initial weights
  EXPECT_THROW(run_training(o), std::invalid_argument);
  o = tiny_options("bad5");
  o.cutout_stamps = {(root() / "no-cutouts").string()};
  expect_error_naming(o, "no-cutouts");
}

// Removes the generated tree once all tests ran.

// cosal-infer over the tiny tree with a model trained here: every mode writes
// one map per frame at the ground truth's size, and existing maps are kept
// unless --force.
TEST(Infer, WritesMapsAtGroundTruthResolutionInEveryMode) {
  const char* build = std::getenv("COSAL_BUILD_DIR");
  const fs::path exe = build ? fs::path(build) / "tools/cosal-infer" : fs::path();
  if (exe.empty() || !fs::exists(exe)) GTEST_SKIP() << "cosal-infer not built (COSAL_BUILD_DIR)";
  TrainOptions o = tiny_options("infer");
  o.steps = 3;
  run_training(o);
  for (const std::string mode : {"streaming", "group", "single"}) {
    const fs::path out = root() / "infer" / ("maps-" + mode);
    const std::string cmd = exe.string() + " --model " + o.out + " --data " +
                            (root() / "davis").string() + " --groups seq1,seq2 --mode " + mode +
                            " --group-size 3 --window 3 --refresh 2 --threads 1 --out " +
                            out.string() + " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (const std::string seq : {"seq1", "seq2"})
      for (int f = 0; f < 8; ++f) {
        char name[16];
        std::snprintf(name, sizeof name, "%05d.png", f);
        const Image m = load_image((out / seq / name).string());
        EXPECT_EQ(m.width, 80);
        EXPECT_EQ(m.height, 48);
        EXPECT_EQ(m.channels, 1);
      }
    EXPECT_FALSE(fs::exists(out / "seq0")) << "--groups limits the groups";
    EXPECT_NE(std::system(cmd.c_str()), 0) << "overwrote maps without --force";
    EXPECT_EQ(std::system((cmd.substr(0, cmd.size() - 12) + " --force 2>/dev/null").c_str()), 0);
  }
}
