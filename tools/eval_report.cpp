#include "eval_report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "eval_plot.h"
#include "sync_dir.h"

namespace fs = std::filesystem;

namespace cosal::eval {

namespace {

using metrics::kLevels;
using nlohmann::json;

// JSON has no NaN: undefined numbers (no frame pairs, say) become null.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json scores_json(const metrics::Scores& s) {
  json j = json::object();
  for (const auto& [k, v] : metrics::named(s)) j[k] = number(v);
  return j;
}

json temporal_json(const metrics::TemporalStability& t) {
  return {
      {"frame_pairs", t.pairs()}, {"inside", number(t.inside())}, {"outside", number(t.outside())}};
}

json curves_json(const metrics::Curves& c) {
  json thresholds = json::array();
  for (int t = 0; t < kLevels; ++t) thresholds.push_back(t);
  auto arr = [](const metrics::Curve& v) {
    json a = json::array();
    for (double x : v) a.push_back(number(x));
    return a;
  };
  return {{"threshold", thresholds},
          {"precision", arr(c.precision)},
          {"recall", arr(c.recall)},
          {"F", arr(c.f)},
          {"E", arr(c.e)}};
}

std::string fmt(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

bool multi(const std::vector<MethodResult>& m) { return m.size() > 1; }

LineChart pr_chart(const std::vector<MethodResult>& methods) {
  LineChart c;
  c.title = "Precision-recall curve (256 thresholds)";
  c.x_label = "recall";
  c.y_label = "precision";
  auto add = [&](const std::string& label, const metrics::Curves& cv, const Color& col, double w,
                 bool dashed) {
    LineSeries s;
    s.label = label;
    s.color = col;
    s.width = w;
    s.dashed = dashed;
    for (int t = 0; t < kLevels; ++t) {
      // Thresholds above every pixel mark nothing: no precision to draw.
      if (cv.recall[t] == 0 && cv.precision[t] == 0) continue;
      s.x.push_back(cv.recall[t]);
      s.y.push_back(cv.precision[t]);
    }
    c.series.push_back(s);
  };
  if (multi(methods)) {
    for (size_t m = 0; m < methods.size(); ++m)
      add(methods[m].name + " (all images)", methods[m].report.per_image.curves, palette(m), 2.5,
          m >= palette_size());
  } else {
    const auto& r = methods.at(0).report;
    for (size_t g = 0; g < r.groups.size(); ++g)
      add(r.groups[g].name, r.groups[g].curves, palette(g), 1.2, g >= palette_size());
    add("all images", r.per_image.curves, Color{0, 0, 0}, 3.0, false);
  }
  return c;
}

LineChart f_chart(const std::vector<MethodResult>& methods) {
  LineChart c;
  c.title = "F-measure (beta^2 = 0.3) against threshold";
  c.x_label = "threshold (floor(pred x 255) >= t)";
  c.y_label = "F-measure";
  c.x_max = 255;
  auto add = [&](const std::string& label, const metrics::Curves& cv, const Color& col, double w,
                 bool dashed) {
    LineSeries s;
    s.label = label;
    s.color = col;
    s.width = w;
    s.dashed = dashed;
    for (int t = 0; t < kLevels; ++t) {
      s.x.push_back(t);
      s.y.push_back(cv.f[t]);
    }
    c.series.push_back(s);
  };
  if (multi(methods)) {
    for (size_t m = 0; m < methods.size(); ++m)
      add(methods[m].name + " (all images)", methods[m].report.per_image.curves, palette(m), 2.5,
          m >= palette_size());
  } else {
    const auto& r = methods.at(0).report;
    for (size_t g = 0; g < r.groups.size(); ++g)
      add(r.groups[g].name, r.groups[g].curves, palette(g), 1.2, g >= palette_size());
    add("all images", r.per_image.curves, Color{0, 0, 0}, 3.0, false);
  }
  return c;
}

BarChart temporal_chart(const std::vector<MethodResult>& methods) {
  BarChart c;
  c.title = "Temporal stability: mean |change| of the mask between frames";
  c.y_label = "mean absolute change (0-1)";
  for (const auto& g : methods.at(0).report.groups) c.categories.push_back(g.name);
  c.categories.push_back("mean of groups");
  for (size_t m = 0; m < methods.size(); ++m) {
    const auto& r = methods[m].report;
    const std::string prefix = multi(methods) ? methods[m].name + ": " : "";
    BarSeries in{prefix + "inside the object", palette(2 * m), {}};
    BarSeries out{prefix + "outside (background)", palette(2 * m + 1), {}};
    for (const auto& name : c.categories) {
      double vi = std::nan(""), vo = std::nan("");
      if (&name == &c.categories.back()) {
        vi = r.temporal_inside;
        vo = r.temporal_outside;
      } else {
        for (const auto& g : r.groups)
          if (g.name == name) {
            vi = g.temporal.inside();
            vo = g.temporal.outside();
          }
      }
      in.values.push_back(vi);
      out.values.push_back(vo);
    }
    c.series.push_back(in);
    c.series.push_back(out);
  }
  return c;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw EvalError("cannot create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw EvalError("cannot write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw EvalError("cannot flush " + tmp + ": " + std::strerror(e));
  }
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw EvalError("cannot write " + path + ": " + std::strerror(e));
  }
}

json summary_json(const std::vector<MethodResult>& methods, const std::string& gt_root) {
  json j;
  j["tool"] = "cosal-eval";
  j["ground_truth"] = gt_root;
  j["definitions"] = {
      {"reference", "PySODMetrics v1.4.3 (py_sod_metrics/sod_metrics.py)"},
      {"ground_truth", "binarised at > 128"},
      {"prediction", "scaled to [0,1] and min-max normalised per image (constant maps kept)"},
      {"thresholds", "256 levels of floor(pred*255), pixel on when level >= t"},
      {"adaptive_threshold", "min(2*mean(pred), 1)"},
      {"F", "beta^2 = 0.3; maxF/meanF = max/mean over thresholds of the image-averaged curve"},
      {"E", "maxE/meanE likewise; divided by (pixels - 1) as the reference does"},
      {"Sm", "alpha = 0.5"},
      {"wF", "weighted F-measure, beta = 1"},
      {"IoU", "raw 8-bit prediction >= 128 vs ground truth > 128; both empty counts as 1"},
      {"boundaryF",
       "DAVIS boundary F (db_eval_boundary): contours (seg2bmap) of the masks as IoU "
       "binarises them, matched within ceil(0.008 * image diagonal) pixels; F of "
       "contour precision and recall; no contour in either mask counts as 1, in one only as 0"},
      {"J&F", "(IoU + boundaryF) / 2, DAVIS's J&F with J = IoU"},
      {"per_image", "every image weighs the same"},
      {"per_group", "scores computed per group, then averaged over groups"},
      {"temporal",
       "mean |pred_t - pred_t-1| (raw/255) inside / outside the ground truth of "
       "frame t, averaged over frame pairs of a group; overall = mean over groups"}};
  json ms = json::array();
  for (const MethodResult& m : methods) {
    const auto& r = m.report;
    json mj;
    mj["name"] = m.name;
    mj["predictions"] = m.pred_root;
    mj["images"] = r.per_image.images;
    mj["seconds"] = m.seconds;
    mj["resized_predictions"] = m.resized;
    mj["notes"] = m.notes;
    mj["per_image"] = scores_json(r.per_image.scores);
    mj["per_group"] = scores_json(r.per_group);
    mj["temporal"] = {{"inside", number(r.temporal_inside)},
                      {"outside", number(r.temporal_outside)}};
    json groups = json::array();
    for (const auto& g : r.groups) {
      groups.push_back({{"name", g.name},
                        {"images", g.images},
                        {"scores", scores_json(g.scores)},
                        {"temporal", temporal_json(g.temporal)}});
    }
    mj["groups"] = groups;
    mj["curves"] = curves_json(r.per_image.curves);
    ms.push_back(mj);
  }
  j["methods"] = ms;
  return j;
}

std::string per_group_csv(const std::vector<MethodResult>& methods) {
  std::ostringstream o;
  o << "method,group,images";
  for (const auto& [k, v] : metrics::named(metrics::Scores{})) o << "," << k;
  o << ",temporal_inside,temporal_outside\n";
  auto row = [&](const std::string& method, const std::string& group, size_t n,
                 const metrics::Scores& s, double ti, double to) {
    o << csv_field(method) << "," << csv_field(group) << "," << n;
    for (const auto& [k, v] : metrics::named(s)) o << "," << fmt(v, 6);
    o << "," << fmt(ti, 6) << "," << fmt(to, 6) << "\n";
  };
  for (const MethodResult& m : methods) {
    const auto& r = m.report;
    for (const auto& g : r.groups)
      row(m.name, g.name, g.images, g.scores, g.temporal.inside(), g.temporal.outside());
    row(m.name, "(per-image mean)", r.per_image.images, r.per_image.scores, std::nan(""),
        std::nan(""));
    row(m.name, "(per-group mean)", r.groups.size(), r.per_group, r.temporal_inside,
        r.temporal_outside);
  }
  return o.str();
}

std::string summary_table(const std::vector<MethodResult>& methods) {
  std::ostringstream o;
  char line[256];
  for (const MethodResult& m : methods) {
    const auto& r = m.report;
    o << "method " << m.name << " (" << m.pred_root << "): " << r.per_image.images << " images in "
      << r.groups.size() << " groups, " << fmt(m.seconds, 1) << " s\n";
    std::snprintf(line, sizeof line, "  %-22s %6s %6s %6s %6s %6s %6s %6s %6s %6s %7s %7s\n",
                  "group", "frames", "Sm", "maxF", "maxE", "MAE", "wF", "J", "F", "J&F", "dIn",
                  "dOut");
    o << line;
    auto row = [&](const std::string& name, size_t n, const metrics::Scores& s, double ti,
                   double to) {
      std::snprintf(line, sizeof line, "  %-22.22s %6zu %6s %6s %6s %6s %6s %6s %6s %6s %7s %7s\n",
                    name.c_str(), n, fmt(s.sm, 3).c_str(), fmt(s.max_f, 3).c_str(),
                    fmt(s.max_e, 3).c_str(), fmt(s.mae, 3).c_str(), fmt(s.wf, 3).c_str(),
                    fmt(s.iou, 3).c_str(), fmt(s.boundary_f, 3).c_str(), fmt(s.jf, 3).c_str(),
                    fmt(ti, 4).c_str(), fmt(to, 4).c_str());
      o << line;
    };
    for (const auto& g : r.groups)
      row(g.name, g.images, g.scores, g.temporal.inside(), g.temporal.outside());
    row("(per-image mean)", r.per_image.images, r.per_image.scores, std::nan(""), std::nan(""));
    row("(per-group mean)", r.groups.size(), r.per_group, r.temporal_inside, r.temporal_outside);
    for (const auto& n : m.notes) o << "  note: " << n << "\n";
  }
  o << "J, F, J&F: DAVIS's J (= IoU), boundary F (contours matched within 0.8% of the "
       "diagonal) and (J + F) / 2\n"
       "dIn / dOut: mean change of the mask between consecutive frames inside / outside the "
       "object\n";
  return o.str();
}

std::vector<std::string> output_files() {
  return {"summary.json",    "per_group.csv",   "pr_curve.svg", "pr_curve.png",
          "f_threshold.svg", "f_threshold.png", "temporal.svg", "temporal.png"};
}

void write_outputs(const std::string& out_dir, const std::vector<MethodResult>& methods,
                   const std::string& gt_root) {
  if (methods.empty()) throw EvalError("nothing to write: no methods evaluated");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw EvalError("cannot create the output folder " + out_dir + ": " + ec.message());
  const fs::path d(out_dir);
  write_file_atomic((d / "summary.json").string(), summary_json(methods, gt_root).dump(1) + "\n");
  write_file_atomic((d / "per_group.csv").string(), per_group_csv(methods));
  const LineChart pr = pr_chart(methods), fc = f_chart(methods);
  const BarChart tc = temporal_chart(methods);
  for (auto [fmt_, ext] : {std::pair{Format::Svg, ".svg"}, std::pair{Format::Png, ".png"}}) {
    write_file_atomic((d / (std::string("pr_curve") + ext)).string(), render(pr, fmt_));
    write_file_atomic((d / (std::string("f_threshold") + ext)).string(), render(fc, fmt_));
    write_file_atomic((d / (std::string("temporal") + ext)).string(), render(tc, fmt_));
  }
  sync_dir(out_dir);
}

}  // namespace cosal::eval
