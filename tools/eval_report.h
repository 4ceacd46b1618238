// cosal-eval's outputs: summary.json, per_group.csv, the figures (PR curve,
// F against threshold, temporal stability; SVG and PNG) and the stdout table.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval_dataset.h"

namespace cosal::eval {

// Writes data to path through a temporary file in the same folder, fsync and
// rename, so a reader never sees a half-written file. Throws EvalError.
void write_file_atomic(const std::string& path, const std::string& data);

nlohmann::json summary_json(const std::vector<MethodResult>& methods, const std::string& gt_root);
std::string per_group_csv(const std::vector<MethodResult>& methods);
std::string summary_table(const std::vector<MethodResult>& methods);

// The names of every file write_outputs creates, relative to the output folder.
std::vector<std::string> output_files();

// Creates out_dir if needed and writes every output into it.
void write_outputs(const std::string& out_dir, const std::vector<MethodResult>& methods,
                   const std::string& gt_root);

}  // namespace cosal::eval
