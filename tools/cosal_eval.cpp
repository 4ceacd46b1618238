// cosal-eval: scores predicted saliency / foreground masks against ground
// truth with the PySODMetrics definitions, per image and per group (video
// sequence), and draws the PR curve, F against threshold and a temporal
// stability chart.
//
//   cosal-eval --pred [NAME=]DIR [--pred ...] --gt DIR --out DIR
//              [--groups a,b,c] [--force] [--matlab]
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "eval_dataset.h"
#include "eval_report.h"

namespace fs = std::filesystem;

namespace {

const char* kUsage =
    "usage: cosal-eval --pred [NAME=]DIR [--pred [NAME=]DIR ...] --gt DIR --out DIR\n"
    "                  [--groups a,b,c] [--force] [--matlab]\n"
    "\n"
    "  --pred    predicted masks as DIR/<group>/<frame>.png (8-bit, 0-255); repeat to\n"
    "            compare several methods in one set of figures (NAME labels each)\n"
    "  --gt      ground truth in the same layout (DAVIS Annotations/480p works)\n"
    "  --out     output folder: summary.json, per_group.csv, pr_curve, f_threshold and\n"
    "            temporal figures (.svg and .png); must be empty unless --force\n"
    "  --groups  evaluate only these groups (default: every folder under --gt)\n"
    "  --force   write into a non-empty --out, replacing files of the same name\n"
    "  --matlab  MATLAB CoSOD3k toolbox variants (S-measure centroid rounding,\n"
    "            E-measure with pred > k/255) instead of PySODMetrics'\n"
    "Predictions are matched to ground-truth frames by file stem; predictions of\n"
    "another size are resized to the ground truth (a note says so).\n";

struct Args {
  std::vector<std::pair<std::string, std::string>> preds;  // name, dir
  std::string gt, out;
  std::vector<std::string> groups;
  bool force = false, matlab = false;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> r;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string part = s.substr(start, comma == std::string::npos ? comma : comma - start);
    if (!part.empty()) r.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return r;
}

std::pair<std::string, std::string> parse_pred(const std::string& v) {
  const size_t eq = v.find('=');
  if (eq != std::string::npos && eq > 0 && v.find('/') > eq)
    return {v.substr(0, eq), v.substr(eq + 1)};
  fs::path p(v);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // trailing '/'
  std::string name = p.filename().string();
  return {name.empty() ? v : name, v};
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(k + " needs a value");
      return argv[++i];
    };
    if (k == "--pred")
      a.preds.push_back(parse_pred(value()));
    else if (k == "--gt")
      a.gt = value();
    else if (k == "--out")
      a.out = value();
    else if (k == "--groups")
      a.groups = split_commas(value());
    else if (k == "--force")
      a.force = true;
    else if (k == "--matlab")
      a.matlab = true;
    else if (k == "-h" || k == "--help")
      throw UsageError("");
    else
      throw UsageError("unknown argument " + k);
  }
  if (a.preds.empty()) throw UsageError("--pred is required");
  if (a.gt.empty()) throw UsageError("--gt is required");
  if (a.out.empty()) throw UsageError("--out is required");
  std::set<std::string> names;
  for (const auto& [name, dir] : a.preds)
    if (!names.insert(name).second)
      throw UsageError("two --pred folders are named '" + name + "'; label them NAME=DIR");
  return a;
}

// Refuses a non-empty output folder without --force, before any work is done.
void check_out(const Args& a) {
  std::error_code ec;
  if (!fs::exists(a.out, ec)) return;
  if (!fs::is_directory(a.out, ec))
    throw cosal::eval::EvalError("--out " + a.out + " exists and is not a folder");
  if (!fs::is_empty(a.out, ec) && !a.force)
    throw cosal::eval::EvalError("output folder " + a.out +
                                 " is not empty; refusing to overwrite it (pass --force to "
                                 "write into it anyway)");
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const UsageError& e) {
    if (*e.what()) std::cerr << "cosal-eval: " << e.what() << "\n\n";
    std::cerr << kUsage;
    return *e.what() ? 2 : 0;
  }
  try {
    check_out(args);
    cosal::metrics::EvaluatorOptions options;
    if (args.matlab) {
      options.s_measure.centroid = cosal::metrics::CentroidRounding::Matlab;
      options.e_comparison = cosal::metrics::ThresholdComparison::Greater;
    }
    std::vector<cosal::eval::MethodResult> results;
    for (const auto& [name, dir] : args.preds)
      results.push_back(cosal::eval::evaluate_method(name, dir, args.gt, args.groups, options));
    cosal::eval::write_outputs(args.out, results, args.gt);
    std::cout << cosal::eval::summary_table(results);
    if (args.matlab) std::cout << "(MATLAB CoSOD3k toolbox variants of Sm and E)\n";
    std::cout << "wrote";
    for (const auto& f : cosal::eval::output_files()) std::cout << " " << f;
    std::cout << " to " << args.out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "cosal-eval: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
