// Small measurement helpers for cosal-bench: order statistics of timings,
// the machine's load and memory, and the machine description that goes into
// every report (timings mean little without them).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace cosal::bench {

// Milliseconds since `t0` on the monotonic clock.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Summary {
  int n = 0;
  double median = 0;  // ms
  double p95 = 0;     // nearest rank
  double mean = 0;
  double min = 0;
  double max = 0;
  // Frames per second when each sample is one frame's time (from the mean:
  // throughput is total frames over total time).
  double fps() const { return mean > 0 ? 1000.0 / mean : 0.0; }
};

// Order statistics of samples in ms; an empty input gives n = 0 and zeros.
Summary summarize(std::vector<double> samples);

// The 1-minute load average (/proc/loadavg); -1 when unreadable.
double load_average();
// Resident set size now (VmRSS) and at its peak (getrusage ru_maxrss), in KiB.
int64_t rss_kib();
int64_t peak_rss_kib();

struct Machine {
  std::string cpu;  // /proc/cpuinfo "model name"
  int cores = 0;    // logical CPUs online
  std::string libtorch;
  std::string gstreamer;
};
Machine describe_machine();

// Writes data to path through <path>.tmp-<pid>, fsync, rename and an fsync of
// the folder, so a reader never sees half a report and a crash right after
// does not undo it. Replaces an existing file (the caller checks --force).
// Throws std::runtime_error naming the file.
void write_file_atomic(const std::string& path, const std::string& data);

}  // namespace cosal::bench
