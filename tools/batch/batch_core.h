// cosal-batch's decisions, kept free of GStreamer so they can be tested as
// functions: which inputs a shard takes, how many threads, the ETA, whether an
// output is complete, and the per-shard summaries and their merged report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cosal::batch {

namespace fs = std::filesystem;

// Reads an environment variable (nullptr when unset); tests pass their own.
using EnvFn = std::function<const char*(const char*)>;
const char* real_env(const char* name);

// ---- sharding ----

// Shard `index` of `count` takes input k (of the sorted list) when
// k % count == index: every input lands in exactly one shard, shards differ by
// at most one input, and long runs of similar files (one camera's clips sort
// together) are spread over all shards instead of landing in one block.
struct Shard {
  long index = 0, count = 1;
  std::string source = "default";  // where it came from, for messages
};
bool in_shard(size_t k, const Shard& s);
std::vector<size_t> shard_members(size_t n, const Shard& s);

// "I/N" with 0 <= I < N.
bool parse_shard(const std::string& text, Shard* out, std::string* error);

// The shard when no --shard is given. `count` (--shard-count or
// COSAL_SHARD_COUNT, 0 = not given) fixes N and makes the task's own id the
// index, so a retry of some tasks (`--array=1,3`) keeps its shards. Without
// it: a Slurm array task is shard (ID - MIN) / STEP of COUNT; a Kubernetes
// Indexed Job's JOB_COMPLETION_INDEX needs the count. No array: 0/1.
bool shard_from_env(const EnvFn& env, long count, Shard* out, std::string* error);

// ---- threads ----

// CPUs this process may use: SLURM_CPUS_PER_TASK inside a Slurm job (the
// allocation, whatever the node has), else the affinity mask.
int available_cpus(const EnvFn& env);

struct ThreadPlan {
  int jobs = 1;     // files at once
  int threads = 1;  // LibTorch intra-op threads (process-wide)
  bool user_threads = false;
};
// jobs <= 0: cpus / 2 (at least 1). user_threads >= 0 (--set threads=N) is
// kept as given; otherwise the CPUs are shared among the jobs.
ThreadPlan plan_threads(int cpus, int jobs, int user_threads);

// ---- ETA ----

struct RunningFile {
  uint64_t frames = 0;
  double total_estimate = -1;  // frames, from position/duration; < 0 unknown
};
struct EtaInput {
  double elapsed_s = 0;
  uint64_t frames = 0;     // every frame processed in this run (rate)
  uint64_t ok_frames = 0;  // frames of the files completed in this run
  int ok_files = 0;        // files completed in this run (not skipped, not failed)
  std::vector<RunningFile> running;
  size_t pending_files = 0;  // not started yet
};
// Seconds left, or < 0 when nothing says how long the files are yet. Files
// not started are assumed as long as the completed ones (or, before any
// completes, as the running ones' estimates).
double eta_seconds(const EtaInput& in);

// ---- truncated inputs ----

// A cut-off file often decodes to its end without an error, but its container
// still states the full duration. True when the decoded frames end well short
// of it (more than 1 s and more than 10% missing: container durations are not
// exact enough for a tighter test). duration_ns <= 0: unknown, never truncated.
bool looks_truncated(int64_t decoded_end_ns, int64_t duration_ns);

// ---- outputs and their records ----

// Size and modification time of a file, or of a folder's files (png output).
struct Stamp {
  bool ok = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t files = 0;
};
Stamp stamp(const fs::path& p);

// What a complete output looked like when cosal-batch wrote it. It is written
// (atomically) before the output's .part is renamed into place, so a present
// output is either complete and recorded, stale (the record is for another
// input or output) or not cosal-batch's at all.
struct Record {
  std::string input, output;
  Stamp input_stamp, output_stamp;
  int64_t frames = 0;
};
nlohmann::json to_json(const Record& r);
bool from_json(const nlohmann::json& j, Record* r);

fs::path state_dir(const fs::path& out);  // <out>/.cosal-batch
fs::path record_path(const fs::path& out, const fs::path& output);

enum class OutputState { Missing, Complete, Stale, Unrecorded };
OutputState check_output(const fs::path& input, const fs::path& output, const fs::path& record,
                         Record* found);

// Writes `text` to `path` through a temporary in the same folder (unique to
// this host and process), fsync, rename, fsync the folder.
bool write_atomic(const fs::path& path, const std::string& text, std::string* error);

// ---- summaries and the merged report ----

struct FileResult {
  std::string input, output;
  std::string status;   // done | skipped | failed | interrupted
  int64_t frames = -1;  // -1: unknown (an output that was there without a record)
  double seconds = 0;
  std::string error;
};
struct Summary {
  Shard shard;
  std::string host;
  double started_unix = 0, finished_unix = 0, seconds = 0;
  uint64_t frames = 0;  // processed in this run
  std::vector<FileResult> files;
  bool interrupted = false;
};
std::string summary_name(const Shard& s);  // shard-I-of-N.json
nlohmann::json to_json(const Summary& s);
bool from_json(const nlohmann::json& j, Summary* s);

struct Report {
  std::vector<std::pair<std::string, Summary>> shards;  // file name, summary
  // Per input, from the latest summary that lists it.
  std::vector<FileResult> files;
  int64_t frames = 0;        // each input's frames once
  uint64_t run_frames = 0;   // frames processed, summed over the shards' latest runs
  double shard_seconds = 0;  // summed over shards
  double wall_seconds = 0;   // first start to last finish
  int complete = 0, failed = 0, unknown_frames = 0;
};
// Reads <dir>/.cosal-batch/shard-*.json (or dir itself when it holds them).
bool merge_reports(const fs::path& dir, Report* out, std::string* error);
std::string format_report(const Report& r);
nlohmann::json to_json(const Report& r);

}  // namespace cosal::batch
