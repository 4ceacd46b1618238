// Tiny training data for the trainer's tests (test_train, test_train_faults):
// a DAVIS tree of textured squares moving over textured backgrounds (mask =
// the square) and photo-like stamps (textured discs with soft alpha), in a
// folder removed at the end of the test program.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "image.h"

namespace cosal::test {

struct TinyTrainingData {
  int sequences = 3, frames = 8, width = 80, height = 48;
  int stamps = 3, stamp_size = 64;
};

// <tmp>/<prefix>-<pid> with davis/{JPEGImages,Annotations}/480p/seq<s>/ and
// stamps/animals/s<k>.png. Frames are not the model's input size on purpose,
// so resizing and upsampling to the ground truth are exercised.
inline std::filesystem::path write_tiny_training_data(const std::string& prefix,
                                                      const TinyTrainingData& d) {
  namespace fs = std::filesystem;
  const fs::path p = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  for (int s = 0; s < d.sequences; ++s) {
    const std::string seq = "seq" + std::to_string(s);
    fs::create_directories(p / "davis/JPEGImages/480p" / seq);
    fs::create_directories(p / "davis/Annotations/480p" / seq);
    for (int f = 0; f < d.frames; ++f) {
      Image img(d.width, d.height, 3), mask(d.width, d.height, 1);
      const int x0 = 4 + 3 * f + 5 * s, y0 = 6 + 2 * f;
      for (int y = 0; y < d.height; ++y)
        for (int x = 0; x < d.width; ++x) {
          const bool in = x >= x0 && x < x0 + 16 && y >= y0 && y < y0 + 16;
          uint8_t* px = img.row(y) + x * 3;
          px[0] = static_cast<uint8_t>(in ? 220 : (x * 5 + y * 3 + s * 40) % 120);
          px[1] = static_cast<uint8_t>(in ? 40 + (x * y) % 60 : (x * y + f) % 140);
          px[2] = static_cast<uint8_t>(in ? 30 : 90 + (x + y) % 50);
          mask.row(y)[x] = in ? 255 : 0;
        }
      char name[16];
      std::snprintf(name, sizeof name, "%05d", f);
      save_png((p / "davis/JPEGImages/480p" / seq / (std::string(name) + ".jpg")).string(), img);
      save_png((p / "davis/Annotations/480p" / seq / (std::string(name) + ".png")).string(), mask);
    }
  }
  fs::create_directories(p / "stamps/animals");
  const double c = (d.stamp_size - 1) / 2.0, r = d.stamp_size / 2.0;
  for (int k = 0; k < d.stamps; ++k) {
    Image st(d.stamp_size, d.stamp_size, 4);
    for (int y = 0; y < d.stamp_size; ++y)
      for (int x = 0; x < d.stamp_size; ++x) {
        uint8_t* q = st.row(y) + x * 4;
        const double dist = std::hypot(x - c, y - c);
        q[0] = static_cast<uint8_t>((x * 7 + y * 3 + k * 50) % 256);
        q[1] = static_cast<uint8_t>((x * y + k * 90) % 256);
        q[2] = static_cast<uint8_t>(60 * k + 20);
        q[3] = static_cast<uint8_t>(std::clamp((r - dist) * 64.0, 0.0, 255.0));
      }
    save_png((p / "stamps/animals" / ("s" + std::to_string(k) + ".png")).string(), st);
  }
  return p;
}

// Removes the folder `root()` names when the test program ends; register it
// at static initialisation: AddGlobalTestEnvironment(new RemoveAtExit(root)).
class RemoveAtExit : public ::testing::Environment {
 public:
  explicit RemoveAtExit(std::function<std::filesystem::path()> root) : root_(std::move(root)) {}
  void TearDown() override { std::filesystem::remove_all(root_()); }

 private:
  std::function<std::filesystem::path()> root_;
};

// The built cosal-train ($COSAL_BUILD_DIR/tools/cosal-train; empty when unset).
inline std::filesystem::path cosal_train_exe() {
  const char* build = std::getenv("COSAL_BUILD_DIR");
  return build ? std::filesystem::path(build) / "tools/cosal-train" : std::filesystem::path();
}

// cosal-train's options for the tiny network the tests train.
inline std::vector<std::string> tiny_net_args() {
  return {"--backbone", "tiny", "--size", "64", "--sir-channels", "8", "--decoder-channels", "8"};
}

// cosal-train's data and network options for the tree above (the tiny
// backbone, small groups): what the tests that spawn cosal-train share.
inline std::vector<std::string> tiny_cli_args(const std::filesystem::path& root) {
  std::vector<std::string> args{"--davis",
                                (root / "davis").string(),
                                "--stamps",
                                (root / "stamps").string(),
                                "--synthetic-groups",
                                "3",
                                "--synthetic-members",
                                "3",
                                "--backgrounds-per-frame",
                                "2"};
  const auto net = tiny_net_args();
  args.insert(args.end(), net.begin(), net.end());
  args.insert(args.end(), {"--min-group", "2", "--max-group", "3"});
  return args;
}

}  // namespace cosal::test
