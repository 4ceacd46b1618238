#include "bench_stats.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <thread>

#include <gst/gst.h>
// Only the version macros: keeps this file free of LibTorch's heavy headers.
#include <torch/version.h>

#include "sync_dir.h"

namespace cosal::bench {

Summary summarize(std::vector<double> samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.n = static_cast<int>(n);
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(n)));
  s.p95 = samples[std::min(n, std::max<size_t>(rank, 1)) - 1];
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(n);
  s.min = samples.front();
  s.max = samples.back();
  return s;
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  if (!(in >> l)) return -1;
  return l;
}

int64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  return -1;
}

int64_t peak_rss_kib() {
  struct rusage u {};
  if (getrusage(RUSAGE_SELF, &u) != 0) return -1;
  return static_cast<int64_t>(u.ru_maxrss);  // KiB on Linux
}

Machine describe_machine() {
  Machine m;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      m.cpu = line.substr(colon + 1);
      m.cpu.erase(0, m.cpu.find_first_not_of(" \t"));
    }
    break;
  }
  if (m.cpu.empty()) m.cpu = "unknown";
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  m.cores =
      online > 0 ? static_cast<int>(online) : static_cast<int>(std::thread::hardware_concurrency());
  m.libtorch = TORCH_VERSION;
  guint major = 0, minor = 0, micro = 0, nano = 0;
  gst_version(&major, &minor, &micro, &nano);
  m.gstreamer = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
  return m;
}

void write_file_atomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  auto fail = [&](const char* what) {
    const std::string msg = path + ": " + what + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(msg);
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create the temporary file");
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      fail("write failed");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync failed");
  }
  if (::close(fd) != 0) fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename failed");
  sync_parent_dir(path);  // the rename itself must reach the disk too
}

}  // namespace cosal::bench
