#include "dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace cosal::train {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

void require_dir(const fs::path& p, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(p, ec)) throw DatasetError(p.string() + ": " + what + " folder not found");
}

// Subfolders in byte order (DAVIS and CoSOD name groups so that this is the
// intended order; std::filesystem gives no order at all).
std::vector<fs::path> sorted_subdirs(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> sorted_files(const fs::path& dir, bool (*keep)(const std::string&)) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.' && keep(e.path().string()))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool is_png(const std::string& path) {
  return lower(fs::path(path).extension().string()) == ".png";
}

bool is_photo_file(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// Images of <image_dir>/<group> paired with <mask_dir>/<group>/<stem>.png.
Group paired_group(const std::string& name, const fs::path& image_dir, const fs::path& mask_dir,
                   bool require_masks) {
  Group g;
  g.name = name;
  std::error_code ec;
  const bool have_mask_dir = fs::is_directory(mask_dir, ec);
  if (require_masks && !have_mask_dir)
    throw DatasetError(mask_dir.string() + ": mask folder for group '" + name + "' not found");
  for (const auto& img : sorted_files(image_dir, is_image_file)) {
    Sample s;
    s.name = img.stem().string();
    s.image = img.string();
    const fs::path mask = mask_dir / (s.name + ".png");
    if (have_mask_dir && fs::is_regular_file(mask, ec)) {
      s.mask = mask.string();
    } else if (require_masks) {
      throw DatasetError(img.string() + ": no mask " + mask.string());
    }
    g.samples.push_back(std::move(s));
  }
  if (g.samples.empty()) throw DatasetError(image_dir.string() + ": group folder holds no images");
  return g;
}

}  // namespace

bool is_image_file(const std::string& path) { return is_photo_file(path) || is_png(path); }

size_t Dataset::num_samples() const {
  size_t n = 0;
  for (const auto& g : groups) n += g.samples.size();
  return n;
}

const Group* Dataset::find(const std::string& group) const {
  for (const auto& g : groups)
    if (g.name == group) return &g;
  return nullptr;
}

Dataset load_davis(const std::string& root, const std::string& resolution, bool require_masks) {
  const fs::path images = fs::path(root) / "JPEGImages" / resolution;
  const fs::path masks = fs::path(root) / "Annotations" / resolution;
  require_dir(images, "DAVIS JPEGImages/" + resolution);
  if (require_masks) require_dir(masks, "DAVIS Annotations/" + resolution);
  Dataset d{root, "davis", {}};
  for (const auto& seq : sorted_subdirs(images)) {
    const std::string name = seq.filename().string();
    d.groups.push_back(paired_group(name, seq, masks / name, require_masks));
  }
  if (d.groups.empty()) throw DatasetError(images.string() + ": no sequences");
  return d;
}

Dataset load_cosod(const std::string& root, const std::string& mask_dir,
                   const std::string& image_dir, bool require_masks) {
  const fs::path images = fs::path(root) / image_dir;
  const fs::path masks = fs::path(root) / mask_dir;
  require_dir(images, "image (" + image_dir + ")");
  if (require_masks) require_dir(masks, "mask (" + mask_dir + ")");
  Dataset d{root, "cosod", {}};
  for (const auto& grp : sorted_subdirs(images)) {
    const std::string name = grp.filename().string();
    d.groups.push_back(paired_group(name, grp, masks / name, require_masks));
  }
  if (d.groups.empty()) throw DatasetError(images.string() + ": no groups");
  return d;
}

Dataset load_group_folders(const std::string& root, bool require_masks) {
  require_dir(root, "dataset");
  Dataset d{root, "groups", {}};
  std::error_code ec;
  for (const auto& grp : sorted_subdirs(root)) {
    Group g;
    g.name = grp.filename().string();
    const auto photos = sorted_files(grp, is_photo_file);
    for (const auto& img : photos) {
      Sample s;
      s.name = img.stem().string();
      s.image = img.string();
      const fs::path mask = grp / (s.name + ".png");
      if (fs::is_regular_file(mask, ec)) {
        s.mask = mask.string();
      } else if (require_masks) {
        throw DatasetError(img.string() + ": no mask " + mask.string());
      }
      g.samples.push_back(std::move(s));
    }
    // Without masks, a group of PNG frames is fine too.
    if (g.samples.empty() && !require_masks) {
      for (const auto& img : sorted_files(grp, is_png))
        g.samples.push_back({img.stem().string(), img.string(), ""});
    }
    if (g.samples.empty()) throw DatasetError(grp.string() + ": group folder holds no images");
    d.groups.push_back(std::move(g));
  }
  if (d.groups.empty()) throw DatasetError(root + ": no group folders");
  return d;
}

namespace {

// stem -> file among a folder's images; two files of one stem are ambiguous.
std::map<std::string, fs::path> images_by_stem(const fs::path& dir) {
  std::map<std::string, fs::path> out;
  for (const auto& f : sorted_files(dir, is_image_file)) {
    const auto [it, added] = out.emplace(f.stem().string(), f);
    if (!added)
      throw DatasetError(f.string() + ": same name as " + it->second.string() +
                         " (one file per name)");
  }
  return out;
}

}  // namespace

Dataset load_stills(const std::string& root, bool require_masks) {
  const fs::path images = fs::path(root) / "images";
  const fs::path masks = fs::path(root) / "masks";
  require_dir(images, "still images (images/)");
  std::error_code ec;
  const bool have_masks = fs::is_directory(masks, ec);
  if (require_masks && !have_masks) require_dir(masks, "still masks (masks/)");
  const auto image_files = images_by_stem(images);
  const auto mask_files = have_masks ? images_by_stem(masks) : std::map<std::string, fs::path>{};
  // A mask nobody uses means a misnamed or missing image: say so rather
  // than train on less than the folder seems to hold.
  for (const auto& [stem, mask] : mask_files)
    if (!image_files.count(stem))
      throw DatasetError(mask.string() + ": no image named " + stem + " in " + images.string());
  Dataset d{root, "stills", {}};
  for (const auto& [stem, image] : image_files) {
    const auto mask = mask_files.find(stem);
    if (mask == mask_files.end() && require_masks)
      throw DatasetError(image.string() + ": no mask named " + stem + " in " + masks.string());
    Sample s{stem, image.string(), mask == mask_files.end() ? "" : mask->second.string()};
    d.groups.push_back(Group{stem, {std::move(s)}});
  }
  if (d.groups.empty()) throw DatasetError(images.string() + ": no image files");
  return d;
}

Dataset load_frame_folder(const std::string& root) {
  require_dir(root, "frame");
  Dataset d{root, "frames", {}};
  Group g;
  g.name = fs::path(root).lexically_normal().filename().string();
  if (g.name.empty()) g.name = fs::path(root).lexically_normal().parent_path().filename().string();
  for (const auto& img : sorted_files(root, is_image_file))
    g.samples.push_back({img.stem().string(), img.string(), ""});
  if (g.samples.empty()) throw DatasetError(root + ": no image files");
  d.groups.push_back(std::move(g));
  return d;
}

Dataset load_any(const std::string& root, const std::string& mask_dir, bool require_masks) {
  std::error_code ec;
  require_dir(root, "dataset");
  if (fs::is_directory(fs::path(root) / "JPEGImages", ec)) {
    // The first resolution present (DAVIS ships 480p and Full-Resolution).
    std::string res = "480p";
    if (!fs::is_directory(fs::path(root) / "JPEGImages" / res, ec)) {
      const auto subs = sorted_subdirs(fs::path(root) / "JPEGImages");
      if (subs.empty()) throw DatasetError(root + ": JPEGImages/ has no resolution folder");
      res = subs.front().filename().string();
    }
    return load_davis(root, res, require_masks);
  }
  if (fs::is_directory(fs::path(root) / "Image", ec))
    return load_cosod(root, mask_dir, "Image", require_masks);
  // Before the group folders, which images/ and masks/ would look like.
  if (fs::is_directory(fs::path(root) / "images", ec) &&
      fs::is_directory(fs::path(root) / "masks", ec))
    return load_stills(root, require_masks);
  if (!sorted_subdirs(root).empty()) return load_group_folders(root, require_masks);
  return load_frame_folder(root);
}

bool Exclusions::excludes_group(const std::string& group) const {
  return groups.count(group) != 0 || names.count(group) != 0;
}

bool Exclusions::excludes(const std::string& group, const std::string& stem) const {
  return excludes_group(group) || samples.count(group + "/" + stem) != 0 || names.count(stem) != 0;
}

namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

}  // namespace

Exclusions read_exclusion_file(const std::string& path,
                               const std::set<std::string>& csv_excluded_qc) {
  std::ifstream in(path);
  if (!in) throw DatasetError(path + ": cannot open exclusion list");
  Exclusions ex;
  std::string line;
  std::getline(in, line);
  const auto header = split_csv_line(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[lower(header[i])] = i;
  if (header.size() > 1 && col.count("qc") && col.count("image")) {
    const bool has_group = col.count("pair_id") || col.count("group");
    const size_t gcol = col.count("group") ? col["group"] : (has_group ? col["pair_id"] : 0);
    int lineno = 1;
    while (std::getline(in, line)) {
      ++lineno;
      if (trim(line).empty()) continue;
      const auto f = split_csv_line(line);
      if (f.size() != header.size())
        throw DatasetError(path + ":" + std::to_string(lineno) + ": expected " +
                           std::to_string(header.size()) + " fields, got " +
                           std::to_string(f.size()));
      if (!csv_excluded_qc.count(f[col["qc"]])) continue;
      if (has_group)
        ex.samples.insert(f[gcol] + "/" + f[col["image"]]);
      else
        ex.names.insert(f[col["image"]]);
    }
    return ex;
  }
  // Plain list: the first line is an entry too.
  int lineno = 0;
  do {
    ++lineno;
    std::string e = trim(line.substr(0, line.find('#')));
    if (e.empty()) continue;
    const auto slash = e.find('/');
    if (slash == std::string::npos) {
      ex.names.insert(e);
    } else if (slash == 0 || slash + 1 == e.size()) {
      if (slash == 0)
        throw DatasetError(path + ":" + std::to_string(lineno) + ": empty group in '" + e + "'");
      ex.groups.insert(e.substr(0, slash));
    } else if (e.substr(slash + 1) == "*") {
      ex.groups.insert(e.substr(0, slash));
    } else {
      if (e.find('/', slash + 1) != std::string::npos)
        throw DatasetError(path + ":" + std::to_string(lineno) + ": expected group/name, got '" +
                           e + "'");
      ex.samples.insert(e);
    }
  } while (std::getline(in, line));
  return ex;
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

size_t apply_exclusions(Dataset& dataset, const Exclusions& exclusions) {
  size_t removed = 0;
  std::vector<Group> kept;
  for (auto& g : dataset.groups) {
    if (exclusions.excludes_group(g.name)) {
      removed += g.samples.size();
      continue;
    }
    std::vector<Sample> samples;
    for (auto& s : g.samples) {
      if (exclusions.excludes(g.name, s.name))
        ++removed;
      else
        samples.push_back(std::move(s));
    }
    g.samples = std::move(samples);
    if (!g.samples.empty()) kept.push_back(std::move(g));
  }
  dataset.groups = std::move(kept);
  return removed;
}

Dataset select_groups(const Dataset& dataset, const std::vector<std::string>& names) {
  Dataset out{dataset.root, dataset.layout, {}};
  for (const auto& n : names) {
    const Group* g = dataset.find(n);
    if (!g) throw DatasetError(dataset.root + ": no group '" + n + "'");
    out.groups.push_back(*g);
  }
  return out;
}

LoadedSample load_sample(const Sample& sample) {
  LoadedSample out;
  try {
    out.image = load_image(sample.image, 3);
    if (!sample.mask.empty()) out.mask = load_image(sample.mask, 1);
  } catch (const ImageError& e) {
    throw DatasetError(e.what());
  }
  if (!out.mask.empty() &&
      (out.mask.width != out.image.width || out.mask.height != out.image.height))
    throw DatasetError(sample.mask + ": mask is " + std::to_string(out.mask.width) + "x" +
                       std::to_string(out.mask.height) + " but its image " + sample.image + " is " +
                       std::to_string(out.image.width) + "x" + std::to_string(out.image.height));
  return out;
}

}  // namespace cosal::train
