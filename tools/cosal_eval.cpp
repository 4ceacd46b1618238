// cosal-eval: scores predicted saliency / foreground masks against ground
// truth with the PySODMetrics definitions and DAVIS's J, F and J&F, per image
// and per group (video sequence), and draws the PR curve, F against threshold
// and a temporal stability chart. Options through GLib's GOptionContext, which
// also writes --help.
//
//   cosal-eval --pred [NAME=]DIR [--pred ...] --gt DIR --out DIR
//              [--groups a,b,c] [--force] [--matlab]
#include <clocale>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <glib.h>

#include "eval_dataset.h"
#include "eval_report.h"

namespace fs = std::filesystem;

namespace {

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

constexpr const char* kSummary =
    "Scores predicted saliency / foreground masks against ground truth with the\n"
    "PySODMetrics definitions and DAVIS's J, F and J&F, per image and per group\n"
    "(video sequence), and draws the PR curve, F against threshold and a temporal\n"
    "stability chart.";
constexpr const char* kDescription =
    "Both folders hold <group>/<frame>.png (8-bit masks, 0-255; DAVIS's\n"
    "Annotations/480p works as --gt). Predictions are matched to ground-truth frames\n"
    "by file stem, frames go in natural order; predictions of another size are\n"
    "resized to the ground truth (a note says so). Repeat --pred to compare several\n"
    "methods in one set of figures; NAME labels each (default: the folder's name).\n"
    "\n"
    "Writes summary.json, per_group.csv and the pr_curve, f_threshold and temporal\n"
    "figures (.svg and .png) into --out, which must be empty unless --force.\n"
    "\n"
    "Example:\n"
    "  cosal-eval --pred mine=out/masks --gt ../shared/data/davis2016/Annotations/480p \\\n"
    "             --out eval/mine\n"
    "\n"
    "Exit status: 0 done, 1 evaluation error, 2 usage error.";

// What GOption fills in; GLib allocates the strings, freed with the object.
struct RawOptions {
  gchar** preds = nullptr;
  gchar* gt = nullptr;
  gchar* out = nullptr;
  gchar* groups = nullptr;
  gboolean force = FALSE, matlab = FALSE;
  RawOptions() = default;
  RawOptions(const RawOptions&) = delete;
  RawOptions& operator=(const RawOptions&) = delete;
  ~RawOptions() {
    g_strfreev(preds);
    g_free(gt);
    g_free(out);
    g_free(groups);
  }
};

// GOption parses the command line and writes --help (then exits 0). Paths
// and group names are folder names, so they are taken as bytes (FILENAME),
// not converted to UTF-8.
Args parse(int argc, char** argv) {
  RawOptions raw;
  const GOptionEntry entries[] = {
      {"pred", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME_ARRAY, &raw.preds,
       "Predicted masks (repeatable)", "[NAME=]DIR"},
      {"gt", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &raw.gt, "Ground-truth masks", "DIR"},
      {"out", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &raw.out, "Output folder", "DIR"},
      {"groups", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_FILENAME, &raw.groups,
       "Evaluate only these groups (default: every folder under --gt)", "a,b,c"},
      {"force", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &raw.force,
       "Write into a non-empty --out, replacing files of the same name", nullptr},
      {"matlab", 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, &raw.matlab,
       "MATLAB CoSOD3k toolbox variants of Sm and E (centroid rounding, pred > k/255)", nullptr},
      {nullptr, 0, G_OPTION_FLAG_NONE, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* context = g_option_context_new("- score predicted masks against ground truth");
  g_option_context_set_summary(context, kSummary);
  g_option_context_set_description(context, kDescription);
  g_option_context_add_main_entries(context, entries, nullptr);
  GError* error = nullptr;
  const bool parsed = g_option_context_parse(context, &argc, &argv, &error);
  g_option_context_free(context);
  if (!parsed) {
    const std::string message = error ? error->message : "cannot parse the command line";
    g_clear_error(&error);
    throw UsageError(message);
  }
  // GOption leaves what is not an option in argv; cosal-eval takes none.
  if (argc > 1) throw UsageError(std::string("unexpected argument ") + argv[1]);

  Args a;
  for (gchar** p = raw.preds; p && *p; ++p) a.preds.push_back(parse_pred(*p));
  if (raw.gt) a.gt = raw.gt;
  if (raw.out) a.out = raw.out;
  if (raw.groups) a.groups = split_commas(raw.groups);
  a.force = raw.force;
  a.matlab = raw.matlab;
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
  // The character set only (GOption's help is UTF-8): numbers in the CSV and
  // the table keep the C locale's decimal point.
  std::setlocale(LC_CTYPE, "");
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "cosal-eval: " << e.what() << "\nTry 'cosal-eval --help' for the options.\n";
    return 2;
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
