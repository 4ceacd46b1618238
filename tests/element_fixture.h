// Setup shared by the cosaliency element's tests (test_element,
// test_element_abuse): GStreamer with the plugin registered statically and a
// tiny random model on disk for the whole run, and a GstHarness around one
// element. Each test file still makes its own frames (exact content there,
// any bytes here).
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

#include "engine.h"
#include "gstcosaliency.h"

namespace cosal::test {

constexpr int kSize = 64;  // the tiny model's native size

// Every input format the element accepts, and every output.
inline constexpr const char* kFormats[] = {"RGB",  "BGR",  "RGBA", "BGRA", "RGBx",
                                           "BGRx", "ARGB", "ABGR", "I420", "NV12"};
inline constexpr const char* kOutputs[] = {"alpha", "mask", "meta"};

// Registers the plugin and writes <tmp>/<prefix><pid>/tiny.safetensors
// (random weights from `seed`) before the first test; removes it after the
// last. Add one per test program with AddGlobalTestEnvironment.
class ElementEnv : public ::testing::Environment {
 public:
  ElementEnv(std::string prefix, uint64_t seed) : prefix_(std::move(prefix)), seed_(seed) {}
  void SetUp() override {
    gst_init(nullptr, nullptr);
    ASSERT_TRUE(gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "cosaliency",
                                           "co-saliency (statically registered for the tests)",
                                           gst_cosaliency_plugin_init, "0", "LGPL", "cosaliency",
                                           "cosaliency", "tests"));
    dir_ = std::filesystem::temp_directory_path() / (prefix_ + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    model_ = (dir_ / "tiny.safetensors").string();
    cosal::write_random_model(model_, "tiny", "rcau", kSize, seed_);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    // Lets GST_TRACERS=leaks report what is still alive.
    gst_deinit();
  }
  static const std::string& model() { return model_; }
  static const std::filesystem::path& dir() { return dir_; }

 private:
  std::string prefix_;
  uint64_t seed_;
  static inline std::string model_;
  static inline std::filesystem::path dir_;
};

inline std::string caps_str(const char* format, int w, int h, const char* extra = "") {
  return std::string("video/x-raw,format=") + format + ",width=" + std::to_string(w) +
         ",height=" + std::to_string(h) + ",framerate=25/1" + extra;
}

// Frame i of a 25 fps stream.
inline GstBuffer* stamped(GstBuffer* b, int i) {
  GST_BUFFER_PTS(b) = static_cast<GstClockTime>(i) * GST_SECOND / 25;
  GST_BUFFER_DURATION(b) = GST_SECOND / 25;
  return b;
}

// A gst-launch description of the element on the CPU with `model`.
inline std::string element_desc(const std::string& props,
                                const std::string& model = ElementEnv::model()) {
  return "cosaliency device=cpu model=\"" + model + "\" " + props;
}

inline GstElement* make_element(const std::string& props = "") {
  GError* err = nullptr;
  GstElement* e = gst_parse_launch(element_desc(props).c_str(), &err);
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  return e;
}

// One counter of the element's stats property.
inline guint64 element_stat(GstElement* e, const char* name) {
  GstStructure* s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  guint64 v = 0;
  EXPECT_TRUE(gst_structure_get_uint64(s, name, &v)) << name;
  gst_structure_free(s);
  return v;
}

// A GstHarness around one element made from `props`.
struct Harness {
  GstElement* element;
  GstHarness* h;
  explicit Harness(const std::string& props = "") : element(make_element(props)) {
    h = gst_harness_new_with_element(element, "sink", "src");
  }
  ~Harness() {
    gst_harness_teardown(h);
    gst_object_unref(element);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  guint64 stat(const char* name) const { return element_stat(element, name); }
  GstCaps* out_caps() const { return gst_pad_get_current_caps(h->sinkpad); }
  // Width and height of the current src caps.
  std::pair<int, int> out_size() const {
    GstCaps* caps = out_caps();
    GstVideoInfo info;
    const bool ok = caps && gst_video_info_from_caps(&info, caps);
    if (caps) gst_caps_unref(caps);
    EXPECT_TRUE(ok);
    return ok ? std::make_pair(static_cast<int>(GST_VIDEO_INFO_WIDTH(&info)),
                               static_cast<int>(GST_VIDEO_INFO_HEIGHT(&info)))
              : std::make_pair(-1, -1);
  }
};

}  // namespace cosal::test
