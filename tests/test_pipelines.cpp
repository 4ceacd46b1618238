// The pipelines/ scripts and tools/cosal-batch, run as a user would (bash,
// gst-launch-1.0) against the uninstalled plugin, on a few frames of
// videotestsrc and a tiny random model.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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
