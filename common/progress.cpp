#include "progress.h"

#include <unistd.h>

#include <cmath>

namespace cosal {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, int64_t start, FILE* out, double interval_s)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      interval_s_(interval_s),
      t0_(std::chrono::steady_clock::now()),
      last_draw_(t0_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double Progress::rate() const {
  const double e = elapsed_s();
  return e > 0 ? static_cast<double>(last_done_ - start_) / e : 0.0;
}

void Progress::update(int64_t done, const std::string& extra) {
  last_done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.2 : interval_s_) && done < total_) return;
  last_draw_ = now;
  draw(done, extra, false);
}

void Progress::finish(const std::string& extra) { draw(last_done_, extra, true); }

void Progress::draw(int64_t done, const std::string& extra, bool final) {
  const double r = rate();
  const double eta = r > 0 ? static_cast<double>(total_ - done) / r : NAN;
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  std::string bar;
  if (tty_) {
    const int width = 24, filled = static_cast<int>(frac * width);
    bar = "[" + std::string(static_cast<size_t>(filled), '#') +
          std::string(static_cast<size_t>(width - filled), '.') + "] ";
  }
  std::fprintf(out_, "%s%s %s%lld/%lld (%.0f%%) %.2f/s %s %s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), 100.0 * frac, r,
               final ? ("in " + format_duration(elapsed_s())).c_str()
                     : ("ETA " + format_duration(eta)).c_str(),
               extra.c_str(), (final || !tty_) ? "\n" : "");
  std::fflush(out_);
}

}  // namespace cosal
