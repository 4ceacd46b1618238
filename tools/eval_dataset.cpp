#include "eval_dataset.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "image.h"

namespace fs = std::filesystem;

namespace cosal::eval {

namespace {

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

void require_dir(const fs::path& p, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(p, ec)) throw EvalError(what + " folder not found: " + p.string());
  if (!fs::is_directory(p, ec)) throw EvalError(what + " is not a folder: " + p.string());
}

// stem -> path of the image files directly inside dir.
std::map<std::string, std::string> images_by_stem(const fs::path& dir, const std::string& what) {
  std::map<std::string, std::string> r;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || !is_image(it->path())) continue;
    const std::string stem = it->path().stem().string();
    auto [pos, inserted] = r.emplace(stem, it->path().string());
    if (!inserted)
      throw EvalError(what + ": two images with the stem '" + stem + "': " + pos->second + " and " +
                      it->path().string());
  }
  if (ec) throw EvalError(what + ": cannot list " + dir.string() + ": " + ec.message());
  return r;
}

}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      // Compare the digit runs as numbers without overflow: skip leading
      // zeros, then the longer run is larger, then lexicographic.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      if (ie - i != je - j) return ie - i < je - j;  // fewer leading zeros first
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<GroupFrames> match_frames(const std::string& pred_root, const std::string& gt_root,
                                      const std::vector<std::string>& groups,
                                      std::vector<std::string>* notes) {
  require_dir(gt_root, "ground-truth");
  require_dir(pred_root, "prediction");
  std::vector<std::string> names = groups;
  if (names.empty()) {
    std::error_code ec;
    for (fs::directory_iterator it(gt_root, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec)) names.push_back(it->path().filename().string());
    if (ec) throw EvalError("cannot list the ground-truth folder " + gt_root + ": " + ec.message());
    std::sort(names.begin(), names.end(), natural_less);
    if (names.empty())
      throw EvalError("no group folders in the ground-truth folder " + gt_root +
                      " (expected <group>/<frame>.png)");
  }
  std::set<std::string> seen;
  std::vector<GroupFrames> out;
  for (const std::string& g : names) {
    if (g.empty() || g.find('/') != std::string::npos || g == "." || g == "..")
      throw EvalError("bad group name '" + g + "'");
    if (!seen.insert(g).second) continue;
    const fs::path gdir = fs::path(gt_root) / g, pdir = fs::path(pred_root) / g;
    require_dir(gdir, "ground-truth group");
    require_dir(pdir, "prediction group");
    const auto gts = images_by_stem(gdir, "ground truth");
    auto preds = images_by_stem(pdir, "predictions");
    if (gts.empty()) throw EvalError("no ground-truth images in " + gdir.string());
    GroupFrames gf;
    gf.name = g;
    std::vector<std::string> missing;
    for (const auto& [stem, path] : gts) {
      auto it = preds.find(stem);
      if (it == preds.end()) {
        missing.push_back(stem);
        continue;
      }
      gf.frames.push_back(Frame{stem, path, it->second});
      preds.erase(it);
    }
    if (!missing.empty()) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
      if (missing.size() > 5) list += ", ...";
      throw EvalError("group " + g + ": " + std::to_string(missing.size()) + " of " +
                      std::to_string(gts.size()) + " frames have no prediction in " +
                      pdir.string() + " (" + list + ")");
    }
    if (!preds.empty() && notes)
      notes->push_back("group " + g + ": " + std::to_string(preds.size()) +
                       " predictions without ground truth ignored (e.g. " + preds.begin()->second +
                       ")");
    std::sort(gf.frames.begin(), gf.frames.end(),
              [](const Frame& a, const Frame& b) { return natural_less(a.stem, b.stem); });
    out.push_back(std::move(gf));
  }
  return out;
}

MethodResult evaluate_method(const std::string& name, const std::string& pred_root,
                             const std::string& gt_root, const std::vector<std::string>& groups,
                             const metrics::EvaluatorOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  MethodResult r;
  r.name = name;
  r.pred_root = pred_root;
  const auto matched = match_frames(pred_root, gt_root, groups, &r.notes);
  metrics::Evaluator ev(options);
  std::string first_resize;
  for (const GroupFrames& g : matched) {
    for (const Frame& f : g.frames) {
      Image gt, pred;
      try {
        gt = load_image(f.gt_path, 1);
        pred = load_image(f.pred_path, 1);
      } catch (const ImageError& e) {
        throw EvalError(std::string("unreadable image: ") + e.what());
      }
      if (pred.width != gt.width || pred.height != gt.height) {
        if (first_resize.empty())
          first_resize = f.pred_path + " " + std::to_string(pred.width) + "x" +
                         std::to_string(pred.height) + " -> " + std::to_string(gt.width) + "x" +
                         std::to_string(gt.height);
        pred = resize(pred, gt.width, gt.height);
        ++r.resized;
      }
      try {
        ev.add(g.name, f.stem, pred, gt);
      } catch (const metrics::MetricError& e) {
        throw EvalError(f.pred_path + " vs " + f.gt_path + ": " + e.what());
      }
    }
  }
  if (r.resized)
    r.notes.push_back(std::to_string(r.resized) +
                      " predictions resized (bilinear) to the ground-truth size, e.g. " +
                      first_resize);
  r.report = ev.report();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace cosal::eval
