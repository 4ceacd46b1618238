// Dataset parsing: DAVIS, CoSOD and group-folder layouts on tiny generated
// trees, exclusion lists, and clear errors for broken trees and files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dataset.h"
#include "image.h"

namespace fs = std::filesystem;
using namespace cosal::train;

namespace {

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_image(const fs::path& p, int w, int h, int c, uint8_t v) {
  fs::create_directories(p.parent_path());
  cosal::save_png(p.string(), cosal::Image(w, h, c, v));
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// DAVIS tree: two sequences of three frames (JPEG names holding PNG bytes:
// the decoder goes by content, the layout by name).
void make_davis(const fs::path& root) {
  for (const std::string seq : {"bear", "camel"})
    for (int f = 0; f < 3; ++f) {
      const std::string stem = "0000" + std::to_string(f);
      write_image(root / "JPEGImages/480p" / seq / (stem + ".jpg"), 16, 8, 3, 100);
      write_image(root / "Annotations/480p" / seq / (stem + ".png"), 16, 8, 1, 255);
    }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DatasetError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Dataset, DavisLayoutListsSequencesInOrder) {
  TempDir t("cosal-davis");
  make_davis(t.path());
  const Dataset d = load_davis(t.path().string());
  ASSERT_EQ(d.groups.size(), 2u);
  EXPECT_EQ(d.groups[0].name, "bear");
  EXPECT_EQ(d.groups[1].name, "camel");
  ASSERT_EQ(d.groups[1].samples.size(), 3u);
  EXPECT_EQ(d.groups[1].samples[2].name, "00002");
  EXPECT_EQ(d.num_samples(), 6u);
  EXPECT_NE(d.groups[0].samples[0].mask.find("Annotations/480p/bear/00000.png"), std::string::npos);
  const LoadedSample s = load_sample(d.groups[0].samples[1]);
  EXPECT_EQ(s.image.channels, 3);
  EXPECT_EQ(s.mask.channels, 1);
  EXPECT_EQ(s.mask.width, 16);
  // load_any detects the layout.
  EXPECT_EQ(load_any(t.path().string()).layout, "davis");
}

TEST(Dataset, MissingMaskAndBadFilesGiveClearErrors) {
  TempDir t("cosal-davis-bad");
  make_davis(t.path());
  fs::remove(t.path() / "Annotations/480p/camel/00001.png");
  std::string err = error_of([&] { load_davis(t.path().string()); });
  EXPECT_NE(err.find("camel/00001.jpg"), std::string::npos) << err;
  EXPECT_NE(err.find("no mask"), std::string::npos) << err;
  // Without masks (inference) the same tree is fine.
  EXPECT_EQ(load_davis(t.path().string(), "480p", false).num_samples(), 6u);

  // A corrupt image names itself when decoded.
  write_text(t.path() / "JPEGImages/480p/bear/00000.jpg", "not a jpeg");
  const Dataset d = load_davis(t.path().string(), "480p", false);
  err = error_of([&] { load_sample(d.groups[0].samples[0]); });
  EXPECT_NE(err.find("bear/00000.jpg"), std::string::npos) << err;

  // A mask of the wrong size.
  write_image(t.path() / "Annotations/480p/bear/00002.png", 5, 5, 1, 0);
  err = error_of([&] { load_sample(d.groups[0].samples[2]); });
  EXPECT_NE(err.find("bear/00002.png"), std::string::npos) << err;
  EXPECT_NE(err.find("5x5"), std::string::npos) << err;

  err = error_of([&] { load_davis((t.path() / "nothing").string()); });
  EXPECT_NE(err.find("JPEGImages/480p"), std::string::npos) << err;
}

TEST(Dataset, CosodLayoutWithConfigurableMaskFolder) {
  TempDir t("cosal-cosod");
  for (const std::string g : {"001", "002"})
    for (int i = 1; i <= 2; ++i) {
      const std::string stem = "img" + g + std::to_string(i);
      write_image(t.path() / "Image" / g / (stem + ".jpg"), 8, 8, 3, 10);
      write_image(t.path() / "PseudoGT" / g / (stem + ".png"), 8, 8, 1, 200);
    }
  const Dataset d = load_cosod(t.path().string(), "PseudoGT");
  ASSERT_EQ(d.groups.size(), 2u);
  EXPECT_EQ(d.groups[1].samples[1].name, "img0022");
  // The default mask folder (GroundTruth) is absent: the error says which.
  const std::string err = error_of([&] { load_cosod(t.path().string()); });
  EXPECT_NE(err.find("GroundTruth"), std::string::npos) << err;
  EXPECT_EQ(load_any(t.path().string(), "PseudoGT").layout, "cosod");

  // pairs.csv-style exclusions: rows with qc == exclude.
  write_text(t.path() / "pairs.csv",
             "pair_id,image,original_file,qc,qc_note\n"
             "001,img0011,a.bmp,ok,\n"
             "001,img0012,b.bmp,exclude,\"wrong object, a tree\"\n"
             "002,img0021,c.bmp,partial,\n");
  Dataset e = d;
  EXPECT_EQ(apply_exclusions(e, read_exclusion_file((t.path() / "pairs.csv").string())), 1u);
  EXPECT_EQ(e.num_samples(), 3u);
  EXPECT_EQ(e.groups[0].samples.size(), 1u);
  Dataset p = d;
  EXPECT_EQ(apply_exclusions(
                p, read_exclusion_file((t.path() / "pairs.csv").string(), {"exclude", "partial"})),
            2u);

  write_text(t.path() / "broken.csv", "pair_id,image,qc\n001,img0011\n");
  const std::string csv_err =
      error_of([&] { read_exclusion_file((t.path() / "broken.csv").string()); });
  EXPECT_NE(csv_err.find("broken.csv:2"), std::string::npos) << csv_err;
}

TEST(Dataset, PlainExclusionListAndGroupSelection) {
  TempDir t("cosal-excl");
  make_davis(t.path());
  write_text(t.path() / "exclude.txt", "# held out\ncamel/*\nbear/00001   # blurry\n");
  Dataset d = load_davis(t.path().string());
  const Exclusions ex = read_exclusion_file((t.path() / "exclude.txt").string());
  EXPECT_TRUE(ex.excludes_group("camel"));
  EXPECT_EQ(apply_exclusions(d, ex), 4u);
  ASSERT_EQ(d.groups.size(), 1u);
  EXPECT_EQ(d.groups[0].samples.size(), 2u);
  EXPECT_EQ(d.groups[0].samples[1].name, "00002");

  const Dataset all = load_davis(t.path().string());
  EXPECT_EQ(select_groups(all, split_list("camel, bear")).groups[0].name, "camel");
  const std::string err = error_of([&] { select_groups(all, {"zebra"}); });
  EXPECT_NE(err.find("zebra"), std::string::npos) << err;
  EXPECT_THROW(read_exclusion_file((t.path() / "absent.txt").string()), DatasetError);
}

TEST(Dataset, GroupFoldersAndFrameFolders) {
  TempDir t("cosal-groups");
  write_image(t.path() / "cats/a.jpg", 4, 4, 3, 1);
  write_image(t.path() / "cats/a.png", 4, 4, 1, 255);
  write_image(t.path() / "cats/b.jpg", 4, 4, 3, 1);
  write_image(t.path() / "cats/b.png", 4, 4, 1, 0);
  const Dataset d = load_group_folders(t.path().string());
  ASSERT_EQ(d.groups.size(), 1u);
  EXPECT_EQ(d.groups[0].samples.size(), 2u);  // the masks are not samples
  EXPECT_EQ(load_any(t.path().string()).layout, "groups");
  fs::remove(t.path() / "cats/b.png");
  EXPECT_NE(error_of([&] { load_group_folders(t.path().string()); }).find("cats/b.jpg"),
            std::string::npos);

  const Dataset f = load_any((t.path() / "cats").string(), "GroundTruth", false);
  EXPECT_EQ(f.layout, "frames");
  EXPECT_EQ(f.groups[0].name, "cats");
  EXPECT_EQ(f.groups[0].samples.size(), 3u);  // a.jpg, a.png, b.jpg: all frames
}

// A flat folder of unrelated photographs: each image its own group of one,
// masks matched by stem whatever the image type.
TEST(Dataset, StillsLayoutPairsImagesAndMasksByStem) {
  TempDir t("cosal-stills");
  write_image(t.path() / "images/101.jpg", 12, 8, 3, 50);
  write_image(t.path() / "images/102.JPEG", 8, 12, 3, 60);
  write_image(t.path() / "images/103.png", 6, 6, 3, 70);
  write_image(t.path() / "images/104.bmp", 6, 6, 3, 80);
  write_text(t.path() / "images/README.txt", "not an image");
  for (const std::string stem : {"101", "102", "103"})
    write_image(t.path() / "masks" / (stem + ".png"), stem == "102" ? 8 : 12,
                stem == "102" ? 12 : 8, 1, 255);
  write_image(t.path() / "masks/104.bmp", 6, 6, 1, 0);

  const Dataset d = load_stills(t.path().string());
  EXPECT_EQ(d.layout, "stills");
  ASSERT_EQ(d.groups.size(), 4u) << "one group per image, the text file ignored";
  EXPECT_EQ(d.num_samples(), 4u);
  EXPECT_EQ(d.groups[1].name, "102");
  ASSERT_EQ(d.groups[1].samples.size(), 1u);
  EXPECT_EQ(d.groups[1].samples[0].name, "102");
  EXPECT_NE(d.groups[1].samples[0].image.find("images/102.JPEG"), std::string::npos);
  EXPECT_NE(d.groups[1].samples[0].mask.find("masks/102.png"), std::string::npos);
  EXPECT_NE(d.groups[3].samples[0].mask.find("masks/104.bmp"), std::string::npos);
  const LoadedSample s = load_sample(d.groups[1].samples[0]);
  EXPECT_EQ(s.image.width, 8);
  EXPECT_EQ(s.mask.height, 12);
  // load_any tells it from a folder of groups named images/ and masks/.
  EXPECT_EQ(load_any(t.path().string()).layout, "stills");
  EXPECT_EQ(load_any(t.path().string()).num_samples(), 4u);
  // Exclusions by bare name drop a still.
  Dataset e = d;
  Exclusions ex;
  ex.names.insert("103");
  EXPECT_EQ(apply_exclusions(e, ex), 1u);
  EXPECT_EQ(e.groups.size(), 3u);
}

TEST(Dataset, StillsLayoutErrorsNameTheFile) {
  TempDir t("cosal-stills-bad");
  write_image(t.path() / "images/a.jpg", 6, 6, 3, 50);
  write_image(t.path() / "images/b.jpg", 6, 6, 3, 50);
  write_image(t.path() / "masks/a.png", 6, 6, 1, 255);
  // An image without a mask: an error, unless masks are optional.
  std::string err = error_of([&] { load_stills(t.path().string()); });
  EXPECT_NE(err.find("images/b.jpg"), std::string::npos) << err;
  EXPECT_NE(err.find("no mask"), std::string::npos) << err;
  const Dataset unmasked = load_stills(t.path().string(), false);
  ASSERT_EQ(unmasked.groups.size(), 2u);
  EXPECT_TRUE(unmasked.groups[1].samples[0].mask.empty());

  // A mask without an image (a misnamed file).
  write_image(t.path() / "masks/b.png", 6, 6, 1, 255);
  write_image(t.path() / "masks/c.png", 6, 6, 1, 255);
  err = error_of([&] { load_stills(t.path().string()); });
  EXPECT_NE(err.find("masks/c.png"), std::string::npos) << err;
  EXPECT_NE(err.find("no image"), std::string::npos) << err;
  fs::remove(t.path() / "masks/c.png");
  EXPECT_EQ(load_stills(t.path().string()).num_samples(), 2u);

  // Two images of one stem: which mask is whose is ambiguous.
  write_image(t.path() / "images/a.png", 6, 6, 3, 50);
  err = error_of([&] { load_stills(t.path().string()); });
  EXPECT_NE(err.find("images/a."), std::string::npos) << err;
  EXPECT_NE(err.find("same name"), std::string::npos) << err;
  fs::remove(t.path() / "images/a.png");

  // An unreadable image names itself when decoded.
  write_text(t.path() / "images/b.jpg", "not a jpeg");
  const Dataset d = load_stills(t.path().string());
  err = error_of([&] { load_sample(d.groups[1].samples[0]); });
  EXPECT_NE(err.find("images/b.jpg"), std::string::npos) << err;

  // No masks/ folder at all, and no images at all.
  fs::remove_all(t.path() / "masks");
  err = error_of([&] { load_stills(t.path().string()); });
  EXPECT_NE(err.find("masks"), std::string::npos) << err;
  fs::remove_all(t.path() / "images");
  fs::create_directories(t.path() / "images");
  err = error_of([&] { load_stills(t.path().string(), false); });
  EXPECT_NE(err.find("no image files"), std::string::npos) << err;
}
