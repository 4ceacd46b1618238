// The pipelines/ scripts and tools/cosal-batch, run as a user would (bash,
// gst-launch-1.0) against the uninstalled plugin, on a few frames of
// videotestsrc and a tiny random model; cosal-batch's decisions (shards,
// threads, ETA, summaries) also as functions.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "batch_core.h"
#include "engine.h"
#include "image.h"
#include "run_to_end.h"

namespace fs = std::filesystem;

namespace {

constexpr int kFrames = 5, kW = 64, kH = 48;

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* build = std::getenv("COSAL_BUILD_DIR");
    const char* source = std::getenv("COSAL_SOURCE_DIR");
    ASSERT_TRUE(build && source) << "run through meson test (COSAL_BUILD_DIR/COSAL_SOURCE_DIR)";
    build_ = build;
    scripts_ = fs::path(source) / "pipelines";
    dir_ = fs::temp_directory_path() / ("cosal_pipelines_test_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = (dir_ / "tiny.safetensors").string();
    cosal::write_random_model(model_, "tiny", "rcau", 64, 3);
    setenv("GST_PLUGIN_PATH", (build_ / "gst-plugin").c_str(), 1);
    setenv("COSAL_MODEL", model_.c_str(), 1);
    // A registry of our own: other builds' plugins must not be picked up.
    setenv("GST_REGISTRY", (dir_ / "registry.bin").c_str(), 1);
    // cosal-batch shards and sizes itself from these: a test run inside a job
    // array must not shard the tests' inputs.
    for (const char* v : {"SLURM_ARRAY_TASK_ID", "SLURM_CPUS_PER_TASK", "JOB_COMPLETION_INDEX",
                          "COSAL_SHARD_COUNT"})
      unsetenv(v);
    gst_init(nullptr, nullptr);
    for (const char* name : {"a.webm", "b.webm"}) {
      const std::string desc = "videotestsrc num-buffers=" + std::to_string(kFrames) +
                               " pattern=ball ! video/x-raw,width=" + std::to_string(kW) +
                               ",height=" + std::to_string(kH) +
                               ",framerate=10/1 ! vp8enc ! webmmux ! filesink location=\"" +
                               (dir_ / name).string() + "\"";
      ASSERT_TRUE(run_pipeline(desc)) << desc;
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs a pipeline to EOS; false on error.
  static bool run_pipeline(const std::string& desc, GstElement** keep = nullptr) {
    GError* err = nullptr;
    GstElement* p = gst_parse_launch(desc.c_str(), &err);
    if (!p || err) {
      if (err) g_error_free(err);
      return false;
    }
    gst_element_set_state(p, GST_STATE_PLAYING);
    const bool ok = cosal::test::run_to_end(p, 60 * GST_SECOND, nullptr) == GST_MESSAGE_EOS;
    gst_element_set_state(p, GST_STATE_NULL);
    if (keep)
      *keep = p;
    else
      gst_object_unref(p);
    return ok;
  }

  static inline fs::path build_, scripts_, dir_;
  static inline std::string model_;
};
const auto* const env = ::testing::AddGlobalTestEnvironment(new Env);

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs a command in the test folder; returns its exit status.
int sh(const std::string& cmd) {
  const std::string full = "cd " + q(Env::dir_) + " && " + cmd;
  const int r = std::system(full.c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

std::string script(const char* name) { return q(Env::scripts_ / name); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string batch_tool() { return q(Env::build_ / "tools" / "cosal-batch"); }

// Decodes a video file; returns the number of frames and their format.
int count_frames(const fs::path& file, std::string* format = nullptr) {
  GstElement* p = nullptr;
  const std::string desc = "filesrc location=\"" + file.string() +
                           "\" ! decodebin ! identity name=id silent=false ! fakesink sync=false";
  struct Count {
    int n = 0;
    std::string format;
  } count;
  GError* err = nullptr;
  p = gst_parse_launch(desc.c_str(), &err);
  if (!p || err) return -1;
  GstElement* id = gst_bin_get_by_name(GST_BIN(p), "id");
  GstPad* pad = gst_element_get_static_pad(id, "src");
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad* pd, GstPadProbeInfo*, gpointer data) {
        auto* c = static_cast<Count*>(data);
        if (c->n++ == 0) {
          GstCaps* caps = gst_pad_get_current_caps(pd);
          const gchar* f = gst_structure_get_string(gst_caps_get_structure(caps, 0), "format");
          c->format = f ? f : "";
          gst_caps_unref(caps);
        }
        return GST_PAD_PROBE_OK;
      },
      &count, nullptr);
  gst_object_unref(pad);
  gst_object_unref(id);
  gst_element_set_state(p, GST_STATE_PLAYING);
  const bool ok = cosal::test::run_to_end(p, 60 * GST_SECOND, nullptr) == GST_MESSAGE_EOS;
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  if (format) *format = count.format;
  return ok ? count.n : -1;
}

bool no_partial_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".part") return false;
  return true;
}

}  // namespace

TEST(Pipelines, CutoutWritesAPngSequenceWithAlpha) {
  ASSERT_EQ(sh(script("cutout.sh") + " a.webm"), 0);
  const fs::path out = Env::dir_ / "a-cutout";
  ASSERT_TRUE(fs::is_directory(out));
  int n = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    cosal::Image img = cosal::load_image(e.path().string());
    EXPECT_EQ(img.channels, 4) << e.path();
    EXPECT_EQ(img.width, kW);
    EXPECT_EQ(img.height, kH);
    ++n;
  }
  EXPECT_EQ(n, kFrames);
  EXPECT_TRUE(no_partial_files(Env::dir_));
}

TEST(Pipelines, CutoutMkvKeepsAlphaLosslessly) {
  ASSERT_EQ(sh(script("cutout.sh") + " --format mkv a.webm cut.mkv"), 0);
  std::string format;
  EXPECT_EQ(count_frames(Env::dir_ / "cut.mkv", &format), kFrames);
  EXPECT_EQ(format, "BGRA");
  EXPECT_TRUE(no_partial_files(Env::dir_));
}

TEST(Pipelines, MaskVideoInEveryFormat) {
  std::string format;
  ASSERT_EQ(sh(script("mask-video.sh") + " a.webm"), 0);
  EXPECT_EQ(count_frames(Env::dir_ / "a-mask.mkv", &format), kFrames);
  EXPECT_EQ(format, "GRAY8");
  ASSERT_EQ(sh(script("mask-video.sh") + " --format webm --threshold 128 a.webm m.webm"), 0);
  EXPECT_EQ(count_frames(Env::dir_ / "m.webm"), kFrames);
  ASSERT_EQ(sh(script("mask-video.sh") + " --format png a.webm pngmasks"), 0);
  int n = 0;
  for (const auto& e : fs::directory_iterator(Env::dir_ / "pngmasks")) {
    EXPECT_EQ(cosal::load_image(e.path().string()).channels, 1);
    ++n;
  }
  EXPECT_EQ(n, kFrames);
  EXPECT_TRUE(no_partial_files(Env::dir_));
}

TEST(Pipelines, BackgroundReplacementWithAnImageAndAColour) {
  cosal::Image bg(40, 30, 3);
  for (size_t i = 0; i < bg.pixels.size(); ++i)
    bg.pixels[i] = static_cast<uint8_t>(i % 3 ? 0 : 200);
  cosal::save_png((Env::dir_ / "bg.png").string(), bg);
  const std::string sink = " --sink 'videoconvert ! video/x-raw,format=RGB ! filesink location=";
  ASSERT_EQ(
      sh(script("bg-replace.sh") + " --size 64x48 --background bg.png" + sink + "rep1.rgb' a.webm"),
      0);
  EXPECT_EQ(fs::file_size(Env::dir_ / "rep1.rgb"), static_cast<uintmax_t>(kFrames * kW * kH * 3));
  ASSERT_EQ(sh(script("bg-replace.sh") + " --size 32x24 --background '#ff8000'" + sink +
               "rep2.rgb' videotestsrc:3"),
            0);
  EXPECT_EQ(fs::file_size(Env::dir_ / "rep2.rgb"), static_cast<uintmax_t>(3 * 32 * 24 * 3));
  EXPECT_NE(sh(script("bg-replace.sh") + " --background nosuchcolour" + sink + "x.rgb' a.webm"), 0);
}

TEST(Pipelines, BackgroundBlur) {
  ASSERT_EQ(sh(script("bg-blur.sh") +
               " --size 64x48 --blur 8 --sink 'videoconvert ! video/x-raw,format=RGB ! filesink "
               "location=blur.rgb' a.webm"),
            0);
  EXPECT_EQ(fs::file_size(Env::dir_ / "blur.rgb"), static_cast<uintmax_t>(kFrames * kW * kH * 3));
}

TEST(Pipelines, CameraScriptsDefaultToV4l2) {
  // A fresh machine without a camera cannot run them; the description shows the default.
  const fs::path out = Env::dir_ / "dry.txt";
  ASSERT_EQ(sh(script("bg-blur.sh") + " --dry-run > " + q(out)), 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("v4l2src"), std::string::npos) << text;
  EXPECT_NE(text.find("autovideosink"), std::string::npos) << text;
}

TEST(Pipelines, FolderMasksKeepEachImagesSize) {
  const fs::path folder = Env::dir_ / "group";
  fs::create_directories(folder);
  const int sizes[][2] = {{50, 30}, {33, 41}, {64, 64}};
  for (int i = 0; i < 3; ++i) {
    cosal::Image img(sizes[i][0], sizes[i][1], 3);
    for (size_t k = 0; k < img.pixels.size(); ++k)
      img.pixels[k] = static_cast<uint8_t>((k * (i + 3)) % 251);
    cosal::save_png((folder / ("img " + std::to_string(i) + ".png")).string(), img);
  }
  ASSERT_EQ(sh(script("folder-masks.sh") + " group"), 0);
  for (int i = 0; i < 3; ++i) {
    cosal::Image m = cosal::load_image(
        (Env::dir_ / "group-masks" / ("img " + std::to_string(i) + ".png")).string());
    EXPECT_EQ(m.channels, 1);
    EXPECT_EQ(m.width, sizes[i][0]);
    EXPECT_EQ(m.height, sizes[i][1]);
  }
}

TEST(Pipelines, ErrorsGiveANonZeroExitAndNoOutput) {
  EXPECT_NE(sh(script("cutout.sh") + " missing.webm 2>/dev/null"), 0);
  EXPECT_NE(sh(script("mask-video.sh") + " --model nosuch.safetensors a.webm bad.mkv 2>/dev/null"),
            0);
  EXPECT_FALSE(fs::exists(Env::dir_ / "bad.mkv"));
  {
    std::ofstream junk(Env::dir_ / "junk.safetensors");
    junk << "junk";
  }
  EXPECT_NE(sh(script("mask-video.sh") + " --model junk.safetensors a.webm bad.mkv 2>/dev/null"),
            0);
  EXPECT_FALSE(fs::exists(Env::dir_ / "bad.mkv"));
  EXPECT_TRUE(no_partial_files(Env::dir_));
}

TEST(Batch, TwoVideosAtOnceThenSkipsCompleteOutputs) {
  const std::string tool = q(Env::build_ / "tools" / "cosal-batch");
  const fs::path log = Env::dir_ / "batch.log";
  ASSERT_EQ(sh(tool + " -o batch -j 2 a.webm b.webm 2> " + q(log)), 0);
  std::string format;
  for (const char* name : {"a-mask.mkv", "b-mask.mkv"}) {
    EXPECT_EQ(count_frames(Env::dir_ / "batch" / name, &format), kFrames) << name;
    EXPECT_EQ(format, "GRAY8");
  }
  EXPECT_TRUE(no_partial_files(Env::dir_ / "batch"));
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(std::to_string(2 * kFrames) + " frames"), std::string::npos) << text;
  EXPECT_NE(text.find("fps, ETA"), std::string::npos) << text;

  // Complete outputs are skipped: same files, untouched.
  const auto before = fs::last_write_time(Env::dir_ / "batch" / "a-mask.mkv");
  {
    std::ofstream list(Env::dir_ / "list.txt");
    list << "a.webm\nb.webm\n";
  }
  ASSERT_EQ(sh(tool + " -o batch @list.txt 2> " + q(log)), 0);
  std::ifstream in2(log);
  std::string text2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_NE(text2.find("2 skipped"), std::string::npos) << text2;
  EXPECT_EQ(fs::last_write_time(Env::dir_ / "batch" / "a-mask.mkv"), before);

  // Cut-outs as PNG folders, from a folder input.
  fs::create_directories(Env::dir_ / "videos");
  fs::copy_file(Env::dir_ / "a.webm", Env::dir_ / "videos" / "a.webm");
  ASSERT_EQ(sh(tool + " -o cut --output cutout --format png videos 2>/dev/null"), 0);
  int n = 0;
  for (const auto& e : fs::directory_iterator(Env::dir_ / "cut" / "a-cutout")) {
    EXPECT_EQ(cosal::load_image(e.path().string()).channels, 4);
    ++n;
  }
  EXPECT_EQ(n, kFrames);

  // A broken model: non-zero exit, nothing left behind.
  {
    std::ofstream junk(Env::dir_ / "junk2.safetensors");
    junk << "junk";
  }
  EXPECT_NE(sh(tool + " -o broken --model junk2.safetensors a.webm 2>/dev/null"), 0);
  EXPECT_FALSE(fs::exists(Env::dir_ / "broken" / "a-mask.mkv"));
  EXPECT_TRUE(no_partial_files(Env::dir_ / "broken"));
}

// ---- cosal-batch's decisions as functions ----

namespace cb = cosal::batch;

cb::EnvFn fake_env(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(BatchShard, EveryInputBelongsToExactlyOneShard) {
  for (size_t n = 0; n <= 70; ++n) {
    for (long count = 1; count <= 17; ++count) {
      std::vector<int> owners(n, 0);
      size_t smallest = n, largest = 0;
      for (long i = 0; i < count; ++i) {
        const cb::Shard s{i, count, "test"};
        const std::vector<size_t> members = cb::shard_members(n, s);
        for (size_t k : members) {
          ASSERT_LT(k, n);
          ++owners[k];
          EXPECT_TRUE(cb::in_shard(k, s));
        }
        smallest = std::min(smallest, members.size());
        largest = std::max(largest, members.size());
      }
      for (size_t k = 0; k < n; ++k) ASSERT_EQ(owners[k], 1) << k << " of " << n << ", N=" << count;
      EXPECT_LE(largest - smallest, 1u) << n << " inputs, N=" << count;
    }
  }
}

TEST(BatchShard, FromTheCommandLineAndTheEnvironment) {
  cb::Shard s;
  std::string err;
  EXPECT_TRUE(cb::parse_shard("2/5", &s, &err));
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  for (const char* bad : {"5/5", "-1/3", "1/0", "1", "a/b", "1/2x"})
    EXPECT_FALSE(cb::parse_shard(bad, &s, &err)) << bad;

  // No array: the whole list.
  EXPECT_TRUE(cb::shard_from_env(fake_env({}), 0, &s, &err)) << err;
  EXPECT_EQ(s.count, 1);
  // --array=1-4: task ids start at SLURM_ARRAY_TASK_MIN.
  err.clear();
  EXPECT_TRUE(cb::shard_from_env(fake_env({{"SLURM_ARRAY_TASK_ID", "3"},
                                           {"SLURM_ARRAY_TASK_MIN", "1"},
                                           {"SLURM_ARRAY_TASK_COUNT", "4"}}),
                                 0, &s, &err))
      << err;
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  // --array=0-6:2
  EXPECT_TRUE(cb::shard_from_env(fake_env({{"SLURM_ARRAY_TASK_ID", "6"},
                                           {"SLURM_ARRAY_TASK_MIN", "0"},
                                           {"SLURM_ARRAY_TASK_STEP", "2"},
                                           {"SLURM_ARRAY_TASK_COUNT", "4"}}),
                                 0, &s, &err))
      << err;
  EXPECT_EQ(s.index, 3);
  // --array=1,3,8 does not map onto 0..2: refused, not guessed.
  err.clear();
  EXPECT_FALSE(cb::shard_from_env(fake_env({{"SLURM_ARRAY_TASK_ID", "8"},
                                            {"SLURM_ARRAY_TASK_MIN", "1"},
                                            {"SLURM_ARRAY_TASK_COUNT", "3"}}),
                                  0, &s, &err));
  EXPECT_NE(err.find("COSAL_SHARD_COUNT"), std::string::npos) << err;
  // A retry of task 1 alone (--array=1) with the count: the id is the shard.
  err.clear();
  EXPECT_TRUE(cb::shard_from_env(fake_env({{"SLURM_ARRAY_TASK_ID", "1"},
                                           {"SLURM_ARRAY_TASK_MIN", "1"},
                                           {"SLURM_ARRAY_TASK_COUNT", "1"},
                                           {"COSAL_SHARD_COUNT", "2"}}),
                                 0, &s, &err))
      << err;
  EXPECT_EQ(s.index, 1);
  EXPECT_EQ(s.count, 2);
  // Kubernetes Indexed Job: the index needs the count.
  err.clear();
  EXPECT_FALSE(cb::shard_from_env(fake_env({{"JOB_COMPLETION_INDEX", "2"}}), 0, &s, &err));
  err.clear();
  EXPECT_TRUE(cb::shard_from_env(fake_env({{"JOB_COMPLETION_INDEX", "2"}}), 3, &s, &err)) << err;
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.source, "JOB_COMPLETION_INDEX");
  err.clear();
  EXPECT_FALSE(cb::shard_from_env(fake_env({{"JOB_COMPLETION_INDEX", "3"}}), 3, &s, &err));
  err.clear();
  EXPECT_FALSE(cb::shard_from_env(fake_env({{"SLURM_ARRAY_TASK_ID", "x"}}), 0, &s, &err));
}

TEST(BatchThreads, SlurmAllocationAndAnExplicitThreadsPropertyWin) {
  EXPECT_EQ(cb::available_cpus(fake_env({{"SLURM_CPUS_PER_TASK", "3"}})), 3);
  EXPECT_GE(cb::available_cpus(fake_env({})), 1);
  cb::ThreadPlan p = cb::plan_threads(8, 0, -1);
  EXPECT_EQ(p.jobs, 4);
  EXPECT_EQ(p.threads, 2);
  EXPECT_FALSE(p.user_threads);
  p = cb::plan_threads(3, 1, -1);
  EXPECT_EQ(p.threads, 3);
  // --set threads=5 is kept, not replaced by the CPU share.
  p = cb::plan_threads(8, 2, 5);
  EXPECT_EQ(p.threads, 5);
  EXPECT_TRUE(p.user_threads);
  p = cb::plan_threads(1, 0, -1);
  EXPECT_EQ(p.jobs, 1);
  EXPECT_EQ(p.threads, 1);
}

TEST(BatchEta, SkippedAndFailedFilesDoNotSkewTheEstimate) {
  // 1 file done (100 frames in 10 s) after 3 complete outputs were skipped,
  // 1 file left: 100 frames at 10 fps.
  cb::EtaInput in;
  in.elapsed_s = 10;
  in.frames = 100;
  in.ok_frames = 100;
  in.ok_files = 1;
  in.pending_files = 1;
  EXPECT_NEAR(cb::eta_seconds(in), 10.0, 1e-9);
  // A failed file's 20 frames count for the rate, not the length of a file.
  in.elapsed_s = 12;
  in.frames = 120;
  EXPECT_NEAR(cb::eta_seconds(in), 10.0, 1e-9);
  // A running file: what its own position/duration says is left.
  in.running = {{30, 50.0}};
  in.frames = 150;
  in.elapsed_s = 15;
  EXPECT_NEAR(cb::eta_seconds(in), (20.0 + 100.0) / 10.0, 1e-9);
  // Before any file completes, the running files' estimates stand in.
  cb::EtaInput first;
  first.elapsed_s = 2;
  first.frames = 20;
  first.running = {{20, 80.0}};
  first.pending_files = 2;
  EXPECT_NEAR(cb::eta_seconds(first), (60.0 + 160.0) / 10.0, 1e-9);
  first.running = {{20, -1}};
  EXPECT_LT(cb::eta_seconds(first), 0);  // nothing known yet
  cb::EtaInput done;
  EXPECT_EQ(cb::eta_seconds(done), 0);
}

TEST(BatchReport, CountsEveryInputOnceFromItsNewestSummary) {
  const fs::path dir = Env::dir_ / "report-units";
  fs::create_directories(cb::state_dir(dir));
  auto file = [](const char* in, const char* status, int64_t frames) {
    cb::FileResult f;
    f.input = in;
    f.status = status;
    f.frames = frames;
    if (std::string(status) == "failed") f.error = "broken";
    return f;
  };
  std::string err;
  // First run, one shard: a and b done, c failed.
  cb::Summary one;
  one.started_unix = 100;
  one.finished_unix = 110;
  one.seconds = 10;
  one.frames = 30;
  one.files = {file("/a", "done", 10), file("/b", "done", 20), file("/c", "failed", 0)};
  ASSERT_TRUE(cb::write_atomic(cb::state_dir(dir) / cb::summary_name(one.shard),
                               to_json(one).dump(), &err));
  // Later, two shards: a and b skipped as complete, c done, d done.
  cb::Summary s0, s1;
  s0.shard = {0, 2, "test"};
  s1.shard = {1, 2, "test"};
  s0.started_unix = s1.started_unix = 200;
  s0.finished_unix = 205;
  s1.finished_unix = 206;
  s0.seconds = 5;
  s1.seconds = 6;
  s0.frames = 5;
  s1.frames = 7;
  s0.files = {file("/a", "skipped", 10), file("/c", "done", 5)};
  s1.files = {file("/b", "skipped", 20), file("/d", "done", 7)};
  ASSERT_TRUE(
      cb::write_atomic(cb::state_dir(dir) / cb::summary_name(s0.shard), to_json(s0).dump(), &err));
  ASSERT_TRUE(
      cb::write_atomic(cb::state_dir(dir) / cb::summary_name(s1.shard), to_json(s1).dump(), &err));
  cb::Report r;
  ASSERT_TRUE(cb::merge_reports(dir, &r, &err)) << err;
  EXPECT_EQ(r.shards.size(), 3u);
  EXPECT_EQ(r.files.size(), 4u);
  EXPECT_EQ(r.frames, 10 + 20 + 5 + 7);
  EXPECT_EQ(r.complete, 4);
  EXPECT_EQ(r.failed, 0);  // c's failure was redone
  EXPECT_EQ(r.run_frames, 30u + 5u + 7u);
  EXPECT_NEAR(r.wall_seconds, 106, 1e-9);
  const std::string table = cb::format_report(r);
  EXPECT_NE(table.find("shard-1-of-2.json"), std::string::npos) << table;
  EXPECT_NE(table.find("42 frames (each input once)"), std::string::npos) << table;
  EXPECT_EQ(to_json(r)["frames"], 42);
  EXPECT_FALSE(cb::merge_reports(Env::dir_ / "no-such-dir", &r, &err));
}

TEST(BatchTruncated, OnlyWellShortOfTheStatedDuration) {
  constexpr int64_t s = 1000000000;
  EXPECT_TRUE(cb::looks_truncated(3 * s, 8 * s));
  EXPECT_FALSE(cb::looks_truncated(8 * s, 8 * s));
  EXPECT_FALSE(cb::looks_truncated(7 * s + s / 2, 8 * s));  // 0.5 s short: durations are inexact
  EXPECT_FALSE(cb::looks_truncated(95 * s, 100 * s));       // 5%
  EXPECT_TRUE(cb::looks_truncated(80 * s, 100 * s));
  EXPECT_FALSE(cb::looks_truncated(0, 0));  // unknown duration
  EXPECT_FALSE(cb::looks_truncated(3 * s, -1));
}

// ---- cosal-batch as a process ----

TEST(Batch, SetThreadsIsKeptAndSlurmCpusAreUsed) {
  const fs::path log = Env::dir_ / "threads.log";
  ASSERT_EQ(sh(batch_tool() + " -o threads -j 1 --set threads=3 a.webm 2> " + q(log)), 0)
      << slurp(log);
  EXPECT_NE(slurp(log).find("3 thread(s) (--set threads)"), std::string::npos) << slurp(log);
  ASSERT_EQ(sh("env -u SLURM_ARRAY_TASK_ID SLURM_CPUS_PER_TASK=3 " + batch_tool() +
               " -o threads2 -j 1 a.webm 2> " + q(log)),
            0)
      << slurp(log);
  EXPECT_NE(slurp(log).find("1 at once, 3 thread(s)"), std::string::npos) << slurp(log);
}

TEST(Batch, OptionValuesAreValuesNotPipelineSyntax) {
  // A model path with a space, through --set.
  fs::create_directories(Env::dir_ / "my models");
  fs::copy_file(Env::model_, Env::dir_ / "my models" / "tiny model.safetensors",
                fs::copy_options::overwrite_existing);
  const fs::path log = Env::dir_ / "values.log";
  ASSERT_EQ(
      sh(batch_tool() + " -o spaced --set 'model=" +
         (Env::dir_ / "my models" / "tiny model.safetensors").string() + "' a.webm 2> " + q(log)),
      0)
      << slurp(log);
  EXPECT_EQ(count_frames(Env::dir_ / "spaced" / "a-mask.mkv"), kFrames);
  // A device string that would have set another property is a bad device.
  EXPECT_EQ(sh(batch_tool() + " -o injected --device 'cpu threads=7' a.webm 2> " + q(log)), 1);
  EXPECT_NE(slurp(log).find("unknown device \"cpu threads=7\""), std::string::npos) << slurp(log);
  EXPECT_FALSE(fs::exists(Env::dir_ / "injected" / "a-mask.mkv"));
  // Unknown properties and bad values are usage errors, before any file.
  EXPECT_EQ(sh(batch_tool() + " -o bad --set nosuch=1 a.webm 2> " + q(log)), 2);
  EXPECT_NE(slurp(log).find("cosal-batch: --set nosuch=1: cosaliency has no writable property"),
            std::string::npos)
      << slurp(log);
  EXPECT_EQ(sh(batch_tool() + " -o bad --set threads=many a.webm 2> " + q(log)), 2);
  EXPECT_NE(slurp(log).find("'many' is not a valid"), std::string::npos) << slurp(log);
  EXPECT_EQ(sh(batch_tool() + " --no-such-option a.webm 2> " + q(log)), 2);
  EXPECT_NE(slurp(log).find("cosal-batch: "), std::string::npos) << slurp(log);
  EXPECT_EQ(sh(batch_tool() + " --shard 3/3 a.webm 2> " + q(log)), 2);
  EXPECT_EQ(sh(batch_tool() + " --help > " + q(log)), 0);
  EXPECT_NE(slurp(log).find("--shard=I/N"), std::string::npos) << slurp(log);
}

TEST(Batch, ShardsRestartsFailuresAndTheReport) {
  fs::create_directories(Env::dir_ / "clips");
  for (const char* n : {"a.webm", "b.webm"}) {
    fs::copy_file(Env::dir_ / n, Env::dir_ / "clips" / n, fs::copy_options::overwrite_existing);
    fs::copy_file(Env::dir_ / n, Env::dir_ / "clips" / (std::string("c") + n),
                  fs::copy_options::overwrite_existing);
  }
  std::ofstream(Env::dir_ / "clips" / "broken.mp4") << "not a video";
  // A clip cut in half decodes without an error; its stated duration tells.
  const fs::path whole = Env::dir_ / "long.webm", cut = Env::dir_ / "cut" / "trunc.webm";
  ASSERT_TRUE(Env::run_pipeline(
      "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=" + std::to_string(kW) +
      ",height=" + std::to_string(kH) +
      ",framerate=10/1 ! vp8enc ! webmmux ! filesink location=\"" + whole.string() + "\""));
  fs::create_directories(cut.parent_path());
  {
    std::ifstream in(whole, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  EXPECT_EQ(sh(batch_tool() + " -o cut " + q(cut) + " " + q(whole) + " 2> cut.log"), 1);
  EXPECT_NE(slurp(Env::dir_ / "cut.log").find("trunc.webm: truncated? decoded"), std::string::npos)
      << slurp(Env::dir_ / "cut.log");
  EXPECT_FALSE(fs::exists(Env::dir_ / "cut" / "trunc-mask.mkv"));
  EXPECT_EQ(count_frames(Env::dir_ / "cut" / "long-mask.mkv"), 60);
  const fs::path log = Env::dir_ / "shards.log";
  // Sorted: a, b, broken, ca, cb; shard 0 of 2 takes a, broken, cb.
  EXPECT_EQ(sh(batch_tool() + " -o sharded --shard 0/2 clips 2> " + q(log)), 1) << slurp(log);
  EXPECT_NE(slurp(log).find("broken.mp4"), std::string::npos) << slurp(log);
  EXPECT_TRUE(fs::exists(Env::dir_ / "sharded" / "a-mask.mkv"));
  EXPECT_TRUE(fs::exists(Env::dir_ / "sharded" / "cb-mask.mkv"));
  EXPECT_FALSE(fs::exists(Env::dir_ / "sharded" / "b-mask.mkv"));
  EXPECT_EQ(sh("SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=2 " +
               batch_tool() + " -o sharded clips 2> " + q(log)),
            0)
      << slurp(log);
  EXPECT_NE(slurp(log).find("shard 1/2 (SLURM_ARRAY_TASK_ID)"), std::string::npos) << slurp(log);
  for (const char* n : {"a", "b", "ca", "cb"})
    EXPECT_EQ(count_frames(Env::dir_ / "sharded" / (std::string(n) + "-mask.mkv")), kFrames) << n;
  EXPECT_TRUE(fs::exists(cb::state_dir(Env::dir_ / "sharded") / "shard-0-of-2.json"));

  // A .part leftover is redone, complete outputs are left alone, and an
  // output whose record no longer matches its input is redone.
  const fs::path a = Env::dir_ / "sharded" / "a-mask.mkv";
  const auto a_time = fs::last_write_time(a);
  std::ofstream(Env::dir_ / "sharded" / "b-mask.mkv.part") << "half";
  fs::remove(Env::dir_ / "sharded" / "b-mask.mkv");
  fs::last_write_time(Env::dir_ / "clips" / "ca.webm",
                      fs::last_write_time(Env::dir_ / "clips" / "ca.webm") + std::chrono::hours(1));
  EXPECT_EQ(sh(batch_tool() + " -o sharded --shard 1/2 clips 2> " + q(log)), 0) << slurp(log);
  EXPECT_NE(slurp(log).find("ca-mask.mkv does not match its record"), std::string::npos)
      << slurp(log);
  EXPECT_NE(slurp(log).find("2 written, 0 skipped"), std::string::npos) << slurp(log);
  EXPECT_EQ(count_frames(Env::dir_ / "sharded" / "b-mask.mkv"), kFrames);
  EXPECT_TRUE(no_partial_files(Env::dir_ / "sharded"));
  EXPECT_EQ(sh(batch_tool() + " -o sharded --shard 0/2 clips 2> " + q(log)), 1);
  EXPECT_NE(slurp(log).find("1 failed"), std::string::npos) << slurp(log);
  EXPECT_EQ(fs::last_write_time(a), a_time);

  // The report: each input once, the broken one listed with its message.
  const fs::path table = Env::dir_ / "report.txt";
  EXPECT_EQ(sh(batch_tool() + " --report sharded > " + q(table)), 1);
  EXPECT_NE(slurp(table).find("5 inputs, 4 complete, 1 failed, " + std::to_string(4 * kFrames) +
                              " frames"),
            std::string::npos)
      << slurp(table);
  EXPECT_NE(slurp(table).find("broken.mp4"), std::string::npos) << slurp(table);
  EXPECT_EQ(sh(batch_tool() + " --report sharded --json > " + q(table)), 1);
  const auto j = nlohmann::json::parse(slurp(table));
  EXPECT_EQ(j["frames"], 4 * kFrames);
  EXPECT_EQ(j["failed"], 1);
}
