// Compares two weights files tensor by tensor, for the trainer's
// reproducibility tests (test_train, test_train_faults).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "rcan_io.h"
#include "weights_io.h"

namespace cosal::test {

// The largest absolute difference over all parameters and buffers of two
// RCAN files; a differing tensor count fails the calling test.
inline double max_weight_difference(const std::string& a, const std::string& b) {
  const NamedTensors ta = module_state(*load_rcan(a)), tb = module_state(*load_rcan(b));
  EXPECT_EQ(ta.size(), tb.size());
  double m = 0;
  for (const auto& [k, v] : ta) m = std::max(m, (v - tb.at(k)).abs().max().item<double>());
  return m;
}

}  // namespace cosal::test
