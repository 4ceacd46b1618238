#include "evaluator.h"

#include <cmath>

#include "iou.h"
#include "mae.h"
#include "weighted_f.h"

namespace cosal::metrics {

std::vector<std::pair<std::string, double>> named(const Scores& s) {
  return {{"Sm", s.sm},        {"MAE", s.mae},    {"adpF", s.adp_f},           {"maxF", s.max_f},
          {"meanF", s.mean_f}, {"adpE", s.adp_e}, {"maxE", s.max_e},           {"meanE", s.mean_e},
          {"wF", s.wf},        {"IoU", s.iou},    {"boundaryF", s.boundary_f}, {"J&F", s.jf}};
}

PairMetrics evaluate_pair(const PreparedPair& pair, const EvaluatorOptions& options) {
  PairMetrics m;
  const FMeasure f = f_measure(pair);
  const EMeasure e = e_measure(pair, options.e_comparison);
  m.curves.precision = f.precision;
  m.curves.recall = f.recall;
  m.curves.f = f.f;
  m.curves.e = e.curve;
  Scores& s = m.scores;
  s.sm = s_measure(pair, options.s_measure);
  s.mae = mae(pair);
  s.adp_f = f.adaptive;
  s.max_f = curve_max(f.f);
  s.mean_f = curve_mean(f.f);
  s.adp_e = e.adaptive;
  s.max_e = curve_max(e.curve);
  s.mean_e = curve_mean(e.curve);
  s.wf = weighted_f(pair);
  s.iou = iou(pair);
  s.boundary_f = boundary_f(pair).f;
  s.jf = (s.iou + s.boundary_f) / 2;
  return m;
}

namespace {

void add_curve(Curve& sum, const Curve& c) {
  for (int t = 0; t < kLevels; ++t) sum[t] += c[t];
}

Curve scaled(const Curve& c, double k) {
  Curve r;
  for (int t = 0; t < kLevels; ++t) r[t] = c[t] * k;
  return r;
}

}  // namespace

void Evaluator::Accumulator::add(const PairMetrics& m) {
  ++n;
  sum.sm += m.scores.sm;
  sum.mae += m.scores.mae;
  sum.adp_f += m.scores.adp_f;
  sum.adp_e += m.scores.adp_e;
  sum.wf += m.scores.wf;
  sum.iou += m.scores.iou;
  sum.boundary_f += m.scores.boundary_f;
  add_curve(curve_sum.precision, m.curves.precision);
  add_curve(curve_sum.recall, m.curves.recall);
  add_curve(curve_sum.f, m.curves.f);
  add_curve(curve_sum.e, m.curves.e);
}

SetResult Evaluator::Accumulator::result(const std::string& name) const {
  SetResult r;
  r.name = name;
  r.images = n;
  if (n == 0) return r;
  const double k = 1.0 / static_cast<double>(n);
  r.curves.precision = scaled(curve_sum.precision, k);
  r.curves.recall = scaled(curve_sum.recall, k);
  r.curves.f = scaled(curve_sum.f, k);
  r.curves.e = scaled(curve_sum.e, k);
  Scores& s = r.scores;
  s.sm = sum.sm * k;
  s.mae = sum.mae * k;
  s.adp_f = sum.adp_f * k;
  s.adp_e = sum.adp_e * k;
  s.wf = sum.wf * k;
  s.iou = sum.iou * k;
  s.boundary_f = sum.boundary_f * k;
  s.jf = (s.iou + s.boundary_f) / 2;
  s.max_f = curve_max(r.curves.f);
  s.mean_f = curve_mean(r.curves.f);
  s.max_e = curve_max(r.curves.e);
  s.mean_e = curve_mean(r.curves.e);
  return r;
}

const ImageResult& Evaluator::add(const std::string& group, const std::string& name,
                                  const Image& pred, const Image& gt) {
  const PreparedPair pair = prepare(pred, gt);
  const PairMetrics m = evaluate_pair(pair, options_);

  auto it = group_index_.find(group);
  if (it == group_index_.end()) {
    it = group_index_.emplace(group, groups_.size()).first;
    groups_.push_back(Group{});
    groups_.back().name = group;
  }
  Group& g = groups_[it->second];
  // A size change inside a sequence breaks the pair, not the evaluation.
  if (!g.previous.empty() && g.previous.size() == pair.size())
    g.temporal.add(frame_change(g.previous, pair));
  g.previous = pair.raw;
  g.acc.add(m);
  all_.add(m);
  images_.push_back(ImageResult{group, name, m.scores});
  return images_.back();
}

EvaluationReport Evaluator::report() const {
  EvaluationReport r;
  r.per_image = all_.result("all");
  r.images = images_;
  double in_sum = 0, out_sum = 0;
  size_t in_n = 0, out_n = 0;
  for (const Group& g : groups_) {
    GroupResult gr;
    static_cast<SetResult&>(gr) = g.acc.result(g.name);
    gr.temporal = g.temporal;
    if (g.temporal.inside_pairs()) {
      in_sum += g.temporal.inside();
      ++in_n;
    }
    if (g.temporal.outside_pairs()) {
      out_sum += g.temporal.outside();
      ++out_n;
    }
    r.groups.push_back(gr);
  }
  const double nan = std::nan("");
  r.temporal_inside = in_n ? in_sum / static_cast<double>(in_n) : nan;
  r.temporal_outside = out_n ? out_sum / static_cast<double>(out_n) : nan;
  if (!r.groups.empty()) {
    Scores& s = r.per_group;
    for (const GroupResult& g : r.groups) {
      s.sm += g.scores.sm;
      s.mae += g.scores.mae;
      s.adp_f += g.scores.adp_f;
      s.max_f += g.scores.max_f;
      s.mean_f += g.scores.mean_f;
      s.adp_e += g.scores.adp_e;
      s.max_e += g.scores.max_e;
      s.mean_e += g.scores.mean_e;
      s.wf += g.scores.wf;
      s.iou += g.scores.iou;
      s.boundary_f += g.scores.boundary_f;
    }
    const double k = 1.0 / static_cast<double>(r.groups.size());
    for (double* v : {&s.sm, &s.mae, &s.adp_f, &s.max_f, &s.mean_f, &s.adp_e, &s.max_e, &s.mean_e,
                      &s.wf, &s.iou, &s.boundary_f})
      *v *= k;
    s.jf = (s.iou + s.boundary_f) / 2;
  }
  return r;
}

}  // namespace cosal::metrics
