// Accumulates saliency metrics over images grouped into co-saliency groups
// (video sequences) and reports both averages:
//  - per image: every image weighs the same (PySODMetrics' dataset numbers);
//  - per group: each group is scored on its own images, then the groups are
//    averaged (CoSOD benchmarks' convention, so long sequences do not dominate).
// maxF / meanF / maxE / meanE of a set are the max / mean over thresholds of
// the set's image-averaged curve, as PySODMetrics computes them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "boundary_f.h"
#include "e_measure.h"
#include "f_measure.h"
#include "image.h"
#include "prepared_pair.h"
#include "s_measure.h"
#include "temporal_stability.h"

namespace cosal::metrics {

struct Scores {
  double sm = 0, mae = 0, adp_f = 0, max_f = 0, mean_f = 0, adp_e = 0, max_e = 0, mean_e = 0,
         wf = 0, iou = 0;
  // DAVIS's boundary F, and J&F = (J + F) / 2 with J = iou. Of a set, J&F is
  // taken from the set's mean J and F, which equals the mean of the J&Fs.
  double boundary_f = 0, jf = 0;
};

// Names and values in a fixed order, for tables, CSV and JSON.
std::vector<std::pair<std::string, double>> named(const Scores& s);

struct Curves {
  Curve precision{}, recall{}, f{}, e{};  // index = threshold level
};

struct ImageResult {
  std::string group;
  std::string name;
  Scores scores;
};

struct SetResult {
  std::string name;
  size_t images = 0;
  Scores scores;
  Curves curves;
};

struct GroupResult : SetResult {
  TemporalStability temporal;
};

struct EvaluationReport {
  SetResult per_image;  // all images pooled
  Scores per_group;     // mean over groups of each group's scores
  // Mean over groups (with at least one frame pair) of their temporal numbers.
  double temporal_inside = 0, temporal_outside = 0;
  std::vector<GroupResult> groups;  // in order of first appearance
  std::vector<ImageResult> images;  // in order added
};

struct EvaluatorOptions {
  SMeasureOptions s_measure;
  ThresholdComparison e_comparison = ThresholdComparison::GreaterEqual;
};

// All metrics of one pair.
struct PairMetrics {
  Scores scores;
  Curves curves;
};
PairMetrics evaluate_pair(const PreparedPair& pair, const EvaluatorOptions& options = {});

class Evaluator {
 public:
  explicit Evaluator(EvaluatorOptions options = {}) : options_(options) {}

  // Adds the next frame of `group`; a group's frames must come in temporal
  // order (temporal stability compares each with the group's previous one).
  // Throws MetricError on maps that cannot be compared (size, channels).
  const ImageResult& add(const std::string& group, const std::string& name, const Image& pred,
                         const Image& gt);

  size_t images() const { return images_.size(); }
  EvaluationReport report() const;

 private:
  struct Accumulator {
    size_t n = 0;
    Scores sum;
    Curves curve_sum;
    void add(const PairMetrics& m);
    SetResult result(const std::string& name) const;
  };
  struct Group {
    std::string name;
    Accumulator acc;
    TemporalStability temporal;
    std::vector<uint8_t> previous;
  };

  EvaluatorOptions options_;
  Accumulator all_;
  std::vector<Group> groups_;
  std::map<std::string, size_t> group_index_;
  std::vector<ImageResult> images_;
};

}  // namespace cosal::metrics
