#include "batch_core.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "sync_dir.h"

namespace cosal::batch {

using nlohmann::json;

const char* real_env(const char* name) { return std::getenv(name); }

// ---- sharding ----

bool in_shard(size_t k, const Shard& s) {
  return static_cast<long>(k % static_cast<size_t>(s.count)) == s.index;
}

std::vector<size_t> shard_members(size_t n, const Shard& s) {
  std::vector<size_t> out;
  for (size_t k = static_cast<size_t>(s.index); k < n; k += static_cast<size_t>(s.count))
    out.push_back(k);
  return out;
}

namespace {

bool parse_long(const char* text, long* out) {
  if (!text || !*text) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

}  // namespace

bool parse_shard(const std::string& text, Shard* out, std::string* error) {
  const size_t slash = text.find('/');
  long i = 0, n = 0;
  if (slash == std::string::npos || !parse_long(text.substr(0, slash).c_str(), &i) ||
      !parse_long(text.substr(slash + 1).c_str(), &n) || n < 1 || i < 0 || i >= n) {
    *error = "--shard wants I/N with 0 <= I < N, not '" + text + "'";
    return false;
  }
  out->index = i;
  out->count = n;
  out->source = "--shard";
  return true;
}

bool shard_from_env(const EnvFn& env, long count, Shard* out, std::string* error) {
  error->clear();  // a variable that is set but malformed leaves its message here
  if (count == 0) {
    if (const char* c = env("COSAL_SHARD_COUNT")) {
      if (!parse_long(c, &count) || count < 1) {
        *error = std::string("COSAL_SHARD_COUNT is not a positive number: '") + c + "'";
        return false;
      }
    }
  }
  if (count < 0) {
    *error = "--shard-count must be positive";
    return false;
  }
  auto number = [&](const char* name, long* v) {
    const char* t = env(name);
    if (!t) return false;
    if (!parse_long(t, v)) {
      *error = std::string(name) + " is not a number: '" + t + "'";
      return false;
    }
    return true;
  };
  long id = 0;
  const char* source = nullptr;
  if (number("SLURM_ARRAY_TASK_ID", &id)) {
    source = "SLURM_ARRAY_TASK_ID";
    if (count == 0) {
      long min = 0, step = 1, n = 0;
      if (!number("SLURM_ARRAY_TASK_COUNT", &n) || n < 1) {
        if (error->empty()) *error = "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not";
        return false;
      }
      if (env("SLURM_ARRAY_TASK_MIN") && !number("SLURM_ARRAY_TASK_MIN", &min)) return false;
      if (env("SLURM_ARRAY_TASK_STEP") && !number("SLURM_ARRAY_TASK_STEP", &step)) return false;
      if (step < 1) step = 1;
      // --array=1-4 or 0-6:2 map onto 0..COUNT-1; a list like 1,3,8 cannot.
      if ((id - min) % step != 0 || (id - min) / step >= n) {
        *error = "array task " + std::to_string(id) +
                 " is not in a range MIN-MAX[:STEP]; submit --array=0-" + std::to_string(n - 1) +
                 " or set COSAL_SHARD_COUNT (then the task id is the shard)";
        return false;
      }
      out->index = (id - min) / step;
      out->count = n;
      out->source = source;
      return true;
    }
  } else if (!error->empty()) {
    return false;
  } else if (number("JOB_COMPLETION_INDEX", &id)) {
    source = "JOB_COMPLETION_INDEX";
    if (count == 0) {
      *error =
          "JOB_COMPLETION_INDEX is set: give the number of shards (--shard-count N or "
          "COSAL_SHARD_COUNT=N, the Job's completions)";
      return false;
    }
  } else if (!error->empty()) {
    return false;
  } else {
    // Not an array task: everything, unless a count alone asks for a shard.
    if (count > 1) {
      *error = "a shard count without a task index: use --shard I/N";
      return false;
    }
    *out = Shard{};
    return true;
  }
  if (id < 0 || id >= count) {
    *error = std::string(source) + "=" + std::to_string(id) + " is not below the shard count " +
             std::to_string(count);
    return false;
  }
  out->index = id;
  out->count = count;
  out->source = source;
  return true;
}

// ---- threads ----

int available_cpus(const EnvFn& env) {
  long slurm = 0;
  if (parse_long(env("SLURM_CPUS_PER_TASK"), &slurm) && slurm > 0) return static_cast<int>(slurm);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPlan plan_threads(int cpus, int jobs, int user_threads) {
  ThreadPlan p;
  cpus = std::max(1, cpus);
  p.jobs = jobs > 0 ? jobs : std::max(1, cpus / 2);
  if (user_threads >= 0) {
    p.threads = user_threads;
    p.user_threads = true;
  } else {
    p.threads = std::max(1, cpus / p.jobs);
  }
  return p;
}

// ---- ETA ----

double eta_seconds(const EtaInput& in) {
  double avg = -1;  // frames per file
  if (in.ok_files > 0) {
    avg = static_cast<double>(in.ok_frames) / in.ok_files;
  } else {
    double sum = 0;
    int n = 0;
    for (const auto& r : in.running)
      if (r.total_estimate >= 0) sum += r.total_estimate, ++n;
    if (n) avg = sum / n;
  }
  double remaining = 0;
  for (const auto& r : in.running) {
    const double total = r.total_estimate >= 0 ? r.total_estimate : avg;
    if (total < 0) return -1;
    remaining += std::max(0.0, total - static_cast<double>(r.frames));
  }
  if (in.pending_files > 0) {
    if (avg < 0) return -1;
    remaining += avg * static_cast<double>(in.pending_files);
  }
  if (remaining == 0) return 0;
  const double rate = in.elapsed_s > 0 ? static_cast<double>(in.frames) / in.elapsed_s : 0;
  return rate > 0 ? remaining / rate : -1;
}

bool looks_truncated(int64_t decoded_end_ns, int64_t duration_ns) {
  if (duration_ns <= 0) return false;
  const int64_t missing = duration_ns - decoded_end_ns;
  return missing > 1000000000 && missing * 10 > duration_ns;
}

// ---- outputs and their records ----

namespace {

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

json stamp_json(const Stamp& s) {
  return {{"size", s.size}, {"mtime_ns", s.mtime_ns}, {"files", s.files}};
}

Stamp stamp_from(const json& j) {
  Stamp s;
  s.ok = true;
  s.size = j.at("size").get<uint64_t>();
  s.mtime_ns = j.at("mtime_ns").get<int64_t>();
  s.files = j.value("files", uint64_t{1});
  return s;
}

bool same(const Stamp& a, const Stamp& b) {
  return a.ok && b.ok && a.size == b.size && a.mtime_ns == b.mtime_ns && a.files == b.files;
}

}  // namespace

Stamp stamp(const fs::path& p) {
  Stamp s;
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return s;
  s.ok = true;
  s.mtime_ns = mtime_ns(st);
  if (!S_ISDIR(st.st_mode)) {
    s.size = static_cast<uint64_t>(st.st_size);
    s.files = 1;
    return s;
  }
  // A png folder: its files' sizes, and the newest of their times.
  std::error_code ec;
  s.files = 0;
  for (const auto& e : fs::directory_iterator(p, ec)) {
    struct stat fst {};
    if (::stat(e.path().c_str(), &fst) != 0) continue;
    s.size += static_cast<uint64_t>(fst.st_size);
    s.mtime_ns = std::max(s.mtime_ns, mtime_ns(fst));
    ++s.files;
  }
  return s;
}

json to_json(const Record& r) {
  return {{"input", r.input},
          {"output", r.output},
          {"input_stamp", stamp_json(r.input_stamp)},
          {"output_stamp", stamp_json(r.output_stamp)},
          {"frames", r.frames}};
}

bool from_json(const json& j, Record* r) {
  try {
    r->input = j.at("input").get<std::string>();
    r->output = j.at("output").get<std::string>();
    r->input_stamp = stamp_from(j.at("input_stamp"));
    r->output_stamp = stamp_from(j.at("output_stamp"));
    r->frames = j.at("frames").get<int64_t>();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

fs::path state_dir(const fs::path& out) { return out / ".cosal-batch"; }

fs::path record_path(const fs::path& out, const fs::path& output) {
  return state_dir(out) / "outputs" / (output.filename().string() + ".json");
}

OutputState check_output(const fs::path& input, const fs::path& output, const fs::path& record,
                         Record* found) {
  std::error_code ec;
  if (!fs::exists(output, ec)) return OutputState::Missing;
  std::ifstream in(record);
  if (!in) return OutputState::Unrecorded;
  Record r;
  try {
    if (!from_json(json::parse(in), &r)) return OutputState::Stale;
  } catch (const std::exception&) {
    return OutputState::Stale;
  }
  if (found) *found = r;
  const fs::path canonical = fs::weakly_canonical(input, ec);
  if (r.input != canonical.string() || r.output != output.filename().string() ||
      !same(r.input_stamp, stamp(input)) || !same(r.output_stamp, stamp(output)))
    return OutputState::Stale;
  return OutputState::Complete;
}

bool write_atomic(const fs::path& path, const std::string& text, std::string* error) {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  const fs::path tmp =
      path.string() + ".tmp." + host + "." + std::to_string(static_cast<long>(getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      *error = "cannot write " + tmp.string();
      std::error_code ec;
      fs::remove(tmp, ec);
      return false;
    }
  }
  fsync_path(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    *error = "cannot rename " + tmp.string() + ": " + ec.message();
    fs::remove(tmp, ec);
    return false;
  }
  cosal::sync_parent_dir(path.string());
  return true;
}

// ---- summaries ----

std::string summary_name(const Shard& s) {
  return "shard-" + std::to_string(s.index) + "-of-" + std::to_string(s.count) + ".json";
}

json to_json(const Summary& s) {
  json files = json::array();
  for (const auto& f : s.files) {
    json e = {{"input", f.input},
              {"output", f.output},
              {"status", f.status},
              {"frames", f.frames},
              {"seconds", f.seconds}};
    if (!f.error.empty()) e["error"] = f.error;
    files.push_back(e);
  }
  int failed = 0;
  for (const auto& f : s.files) failed += f.status == "failed";
  return {{"format", "cosal-batch summary 1"},
          {"shard", s.shard.index},
          {"shards", s.shard.count},
          {"shard_source", s.shard.source},
          {"host", s.host},
          {"started_unix", s.started_unix},
          {"finished_unix", s.finished_unix},
          {"seconds", s.seconds},
          {"frames", s.frames},
          {"fps", s.seconds > 0 ? static_cast<double>(s.frames) / s.seconds : 0.0},
          {"inputs", s.files.size()},
          {"failed", failed},
          {"interrupted", s.interrupted},
          {"files", files}};
}

bool from_json(const json& j, Summary* s) {
  try {
    s->shard.index = j.at("shard").get<long>();
    s->shard.count = j.at("shards").get<long>();
    s->shard.source = j.value("shard_source", "");
    s->host = j.value("host", "");
    s->started_unix = j.at("started_unix").get<double>();
    s->finished_unix = j.at("finished_unix").get<double>();
    s->seconds = j.at("seconds").get<double>();
    s->frames = j.at("frames").get<uint64_t>();
    s->interrupted = j.value("interrupted", false);
    s->files.clear();
    for (const auto& e : j.at("files")) {
      FileResult f;
      f.input = e.at("input").get<std::string>();
      f.output = e.value("output", "");
      f.status = e.at("status").get<std::string>();
      f.frames = e.value("frames", int64_t{-1});
      f.seconds = e.value("seconds", 0.0);
      f.error = e.value("error", "");
      s->files.push_back(f);
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool merge_reports(const fs::path& dir, Report* out, std::string* error) {
  fs::path sdir = state_dir(dir);
  std::error_code ec;
  if (!fs::is_directory(sdir, ec)) sdir = dir;
  std::vector<fs::path> names;
  for (const auto& e : fs::directory_iterator(sdir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("shard-", 0) == 0 && e.path().extension() == ".json") names.push_back(e.path());
  }
  if (ec || names.empty()) {
    *error = "no shard summaries (.cosal-batch/shard-*.json) in " + dir.string();
    return false;
  }
  std::sort(names.begin(), names.end());
  Report r;
  for (const auto& p : names) {
    std::ifstream in(p);
    Summary s;
    try {
      if (!from_json(json::parse(in), &s)) throw std::runtime_error("fields missing");
    } catch (const std::exception& e) {
      *error = p.string() + ": not a cosal-batch summary (" + e.what() + ")";
      return false;
    }
    r.shards.emplace_back(p.filename().string(), std::move(s));
  }
  // Each input counts once, from the newest summary that lists it: a file
  // processed by one run and skipped (as complete) by a later one, or by
  // shards of two different counts, is not counted twice.
  std::map<std::string, std::pair<double, FileResult>> latest;
  double first = 0, last = 0;
  for (const auto& [name, s] : r.shards) {
    r.run_frames += s.frames;
    r.shard_seconds += s.seconds;
    first = first == 0 ? s.started_unix : std::min(first, s.started_unix);
    last = std::max(last, s.finished_unix);
    for (const auto& f : s.files) {
      auto it = latest.find(f.input);
      if (it == latest.end() || s.finished_unix >= it->second.first)
        latest[f.input] = {s.finished_unix, f};
    }
  }
  r.wall_seconds = last - first;
  for (auto& [input, entry] : latest) {
    const FileResult& f = entry.second;
    if (f.status == "done" || f.status == "skipped") {
      ++r.complete;
      if (f.frames >= 0)
        r.frames += f.frames;
      else
        ++r.unknown_frames;
    } else {
      ++r.failed;
    }
    r.files.push_back(f);
  }
  *out = std::move(r);
  return true;
}

std::string format_report(const Report& r) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-22s %-18s %6s %6s %7s %6s %8s %9s %8s\n", "shard", "host",
                "inputs", "done", "skipped", "failed", "frames", "seconds", "fps");
  o << line;
  for (const auto& [name, s] : r.shards) {
    int done = 0, skipped = 0, failed = 0;
    for (const auto& f : s.files) {
      done += f.status == "done";
      skipped += f.status == "skipped";
      failed += f.status != "done" && f.status != "skipped";
    }
    std::snprintf(line, sizeof line, "%-22s %-18s %6zu %6d %7d %6d %8" PRIu64 " %9.1f %8.2f%s\n",
                  name.c_str(), s.host.c_str(), s.files.size(), done, skipped, failed, s.frames,
                  s.seconds, s.seconds > 0 ? static_cast<double>(s.frames) / s.seconds : 0.0,
                  s.interrupted ? "  (interrupted)" : "");
    o << line;
  }
  std::snprintf(line, sizeof line,
                "total: %zu inputs, %d complete, %d failed, %" PRId64
                " frames (each input once%s), %.1f s wall, %.2f fps\n",
                r.files.size(), r.complete, r.failed, r.frames,
                r.unknown_frames ? (", " + std::to_string(r.unknown_frames) +
                                    " output(s) without a record not counted")
                                       .c_str()
                                 : "",
                r.wall_seconds,
                r.wall_seconds > 0 ? static_cast<double>(r.run_frames) / r.wall_seconds : 0.0);
  o << line;
  for (const auto& f : r.files)
    if (f.status != "done" && f.status != "skipped")
      o << "failed: " << f.input << ": " << (f.error.empty() ? f.status : f.error) << "\n";
  return o.str();
}

json to_json(const Report& r) {
  json shards = json::array();
  for (const auto& [name, s] : r.shards) {
    json j = to_json(s);
    j.erase("files");
    j["file"] = name;
    shards.push_back(j);
  }
  json files = json::array();
  for (const auto& f : r.files) {
    json e = {{"input", f.input}, {"output", f.output}, {"status", f.status}, {"frames", f.frames}};
    if (!f.error.empty()) e["error"] = f.error;
    files.push_back(e);
  }
  return {{"inputs", r.files.size()},
          {"complete", r.complete},
          {"failed", r.failed},
          {"frames", r.frames},
          {"unknown_frames", r.unknown_frames},
          {"run_frames", r.run_frames},
          {"shard_seconds", r.shard_seconds},
          {"wall_seconds", r.wall_seconds},
          {"fps", r.wall_seconds > 0 ? static_cast<double>(r.run_frames) / r.wall_seconds : 0.0},
          {"shards", shards},
          {"files", files}};
}

}  // namespace cosal::batch
