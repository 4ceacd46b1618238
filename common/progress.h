// A one-line progress bar for long runs: step / total, smoothed loss,
// speed and ETA. Redraws in place on a terminal; on a pipe or file (logs,
// CI) prints a plain line every `interval_s` seconds instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cosal {

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

class Progress {
 public:
  Progress(std::string label, int64_t total, int64_t start = 0, FILE* out = stderr,
           double interval_s = 10.0);
  // `extra` is appended (e.g. "loss 0.213").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double elapsed_s() const;
  double rate() const;  // items per second since construction

 private:
  void draw(int64_t done, const std::string& extra, bool final);

  std::string label_;
  int64_t total_, start_;
  FILE* out_;
  bool tty_;
  double interval_s_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  int64_t last_done_ = 0;
};

}  // namespace cosal
