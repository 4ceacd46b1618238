// Training and evaluation datasets: groups of images with foreground masks,
// read from the common on-disk layouts. Parsing only lists files (cheap and
// checked up front); pixels are decoded later by the caller.
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "image.h"

namespace cosal::train {

class DatasetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One image and its mask (mask empty where the dataset has none, e.g. a plain
// folder of frames given to the inference tool).
struct Sample {
  std::string name;  // file stem, e.g. "00042"
  std::string image;
  std::string mask;
};

// One co-saliency group (a video sequence or an image group), samples in file
// (= temporal) order.
struct Group {
  std::string name;
  std::vector<Sample> samples;
};

struct Dataset {
  std::string root;
  std::string layout;  // "davis", "cosod", "groups", "frames", "stills"
  std::vector<Group> groups;
  size_t num_samples() const;
  const Group* find(const std::string& group) const;
};

// DAVIS: JPEGImages/<resolution>/<seq>/<frame>.jpg + Annotations/<resolution>/<seq>/<frame>.png.
Dataset load_davis(const std::string& root, const std::string& resolution = "480p",
                   bool require_masks = true);
// CoSOD3k / CoSal2015 / Image-Pair: <image_dir>/<group>/<img>.jpg + <mask_dir>/<group>/<img>.png.
Dataset load_cosod(const std::string& root, const std::string& mask_dir = "GroundTruth",
                   const std::string& image_dir = "Image", bool require_masks = true);
// <group>/<img>.jpg|.jpeg|.bmp with <img>.png masks beside them.
Dataset load_group_folders(const std::string& root, bool require_masks = true);
// A flat folder of unrelated photographs with masks (SOD, DUTS, ECSSD style):
// images/<stem>.jpg|.jpeg|.png|.bmp + masks/<stem>.<any of those>, matched by
// stem. Each image is a group of one named after its stem (nothing is common
// across files). An image without a mask (when required), a mask without an
// image, or two files of one stem in a folder is a DatasetError naming them.
Dataset load_stills(const std::string& root, bool require_masks = true);
// A folder of frames (any image type) = one group named after the folder; no masks.
Dataset load_frame_folder(const std::string& root);
// Picks the layout from what `root` contains (JPEGImages/ -> DAVIS, Image/ ->
// CoSOD, images/ + masks/ -> stills, subfolders with images -> groups,
// images -> frames).
Dataset load_any(const std::string& root, const std::string& mask_dir = "GroundTruth",
                 bool require_masks = true);

// Which samples to leave out. Entries: "group/stem" (one sample), "group/*"
// (a whole group), or a bare name (a group of that name, or a sample of that
// stem in any group).
struct Exclusions {
  std::set<std::string> groups;
  std::set<std::string> samples;  // "group/stem"
  std::set<std::string> names;    // bare entries
  bool empty() const { return groups.empty() && samples.empty() && names.empty(); }
  bool excludes_group(const std::string& group) const;
  bool excludes(const std::string& group, const std::string& stem) const;
};

// A text file (one entry a line, '#' comments) or a CSV with a header holding
// "qc" and "image" columns (plus "pair_id" or "group"), as Image-Pair's
// pairs.csv: rows whose qc is in `csv_excluded_qc` are excluded.
Exclusions read_exclusion_file(const std::string& path,
                               const std::set<std::string>& csv_excluded_qc = {"exclude"});
// Comma-separated group names (as --exclude-groups takes them).
std::vector<std::string> split_list(const std::string& list);

// Drops excluded samples and groups (and groups left empty). Returns how many
// samples were removed.
size_t apply_exclusions(Dataset& dataset, const Exclusions& exclusions);
// Keeps only the named groups, in the order given; throws DatasetError naming
// any group the dataset lacks.
Dataset select_groups(const Dataset& dataset, const std::vector<std::string>& names);

bool is_image_file(const std::string& path);

// Decodes a sample: RGB image and 1-channel mask of the same size (mask empty
// when the sample has none). Throws DatasetError naming the file on an
// undecodable file or a size mismatch.
struct LoadedSample {
  Image image;
  Image mask;
};
LoadedSample load_sample(const Sample& sample);

}  // namespace cosal::train
