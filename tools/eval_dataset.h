// Pairs prediction and ground-truth files for cosal-eval and runs the metrics
// evaluator over them. Both folders use the layout <root>/<group>/<frame>.<ext>
// (DAVIS's Annotations/480p works as the ground truth); a prediction matches
// a ground-truth frame by file stem, and frames are taken in natural order
// (frame2 before frame10) so temporal stability compares neighbours.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "evaluator.h"

namespace cosal::eval {

class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Frame {
  std::string stem;
  std::string gt_path;
  std::string pred_path;
};

struct GroupFrames {
  std::string name;
  std::vector<Frame> frames;
};

// "frame2" < "frame10": digit runs compare as numbers.
bool natural_less(const std::string& a, const std::string& b);

// Matches every ground-truth frame of the chosen groups (all sub-folders of
// gt_root when `groups` is empty) with its prediction. Throws EvalError naming
// the folder or file for a missing folder, an empty group or a missing
// prediction; predictions without ground truth are reported in `notes`.
std::vector<GroupFrames> match_frames(const std::string& pred_root, const std::string& gt_root,
                                      const std::vector<std::string>& groups,
                                      std::vector<std::string>* notes);

struct MethodResult {
  std::string name;
  std::string pred_root;
  metrics::EvaluationReport report;
  std::vector<std::string> notes;
  size_t resized = 0;  // predictions resized to their ground truth's size
  double seconds = 0;
};

// Loads, matches and evaluates one prediction folder. Predictions whose size
// differs from the ground truth are resized (bilinear) to it and counted.
MethodResult evaluate_method(const std::string& name, const std::string& pred_root,
                             const std::string& gt_root, const std::vector<std::string>& groups,
                             const metrics::EvaluatorOptions& options = {});

}  // namespace cosal::eval
