// The trainer's own random numbers: one 64-bit Mersenne Twister whose state
// can be saved in a checkpoint, with draws defined here (not by the standard
// library's distributions, whose algorithms differ between implementations),
// so a seed gives the same run everywhere.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace cosal::train {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive); hi < lo returns lo.
  int64_t integer(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(engine_() % span);
  }
  bool chance(double p) { return uniform() < p; }

  std::string state() const {
    std::ostringstream os;
    os << engine_;
    return os.str();
  }
  void set_state(const std::string& s) {
    std::istringstream is(s);
    is >> engine_;
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace cosal::train
