// The moving average of trained weights: its decay schedule, the exact
// update, the swap used for validation and saving, and restoring it.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "weight_average.h"

using cosal::train::AverageSwappedIn;
using cosal::train::WeightAverage;

namespace {

torch::Tensor values(std::vector<float> v) { return torch::tensor(v); }

}  // namespace

TEST(WeightAverage, DecayRampsUpFromTheStartAndCapsAtTheSetting) {
  torch::Tensor p = values({1, 2});
  WeightAverage avg({p}, 0.99);
  EXPECT_DOUBLE_EQ(avg.decay_at(0), 0.1);
  EXPECT_DOUBLE_EQ(avg.decay_at(1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(avg.decay_at(100), 101.0 / 110.0);
  EXPECT_DOUBLE_EQ(avg.decay_at(100000), 0.99);
  EXPECT_THROW(WeightAverage({p}, 1.0), std::invalid_argument);
  EXPECT_THROW(WeightAverage({p}, -0.1), std::invalid_argument);
}

TEST(WeightAverage, UpdateMixesInTheCurrentValuesByTheDecay) {
  torch::Tensor p = values({1, 2}).requires_grad_();
  WeightAverage avg({p}, 0.5);
  {
    torch::NoGradGuard no_grad;
    p.copy_(values({3, 4}));
  }
  avg.update(1000);  // decay 0.5
  EXPECT_TRUE(torch::allclose(avg.averaged()[0], values({2, 3})));
  {
    torch::NoGradGuard no_grad;
    p.copy_(values({6, 7}));
  }
  avg.update(1001);
  EXPECT_TRUE(torch::allclose(avg.averaged()[0], values({4, 5})));
  // At step 1 the ramp gives 2/11: the average mostly takes the new values.
  WeightAverage early({p}, 0.999);
  {
    torch::NoGradGuard no_grad;
    p.copy_(values({17, 18}));
  }
  early.update(1);
  const double d = 2.0 / 11.0;
  EXPECT_TRUE(torch::allclose(early.averaged()[0],
                              values({float(6 * d + 17 * (1 - d)), float(7 * d + 18 * (1 - d))})));
  EXPECT_TRUE(torch::equal(p, values({17, 18}))) << "the parameters are not changed";
}

TEST(WeightAverage, SwapExchangesAndTheGuardRestoresEvenOnAnException) {
  torch::Tensor p = values({1, 2});
  torch::Tensor q = values({5});
  WeightAverage avg({p, q}, 0.5);
  p.copy_(values({3, 4}));
  q.copy_(values({7}));
  avg.update(1000);  // averages: {2, 3}, {6}
  avg.swap();
  EXPECT_TRUE(torch::equal(p, values({2, 3})));
  EXPECT_TRUE(torch::equal(q, values({6})));
  EXPECT_TRUE(torch::equal(avg.averaged()[0], values({3, 4})));
  avg.swap();
  EXPECT_TRUE(torch::equal(p, values({3, 4})));
  EXPECT_TRUE(torch::equal(avg.averaged()[0], values({2, 3})));
  try {
    AverageSwappedIn in(&avg);
    EXPECT_TRUE(torch::equal(p, values({2, 3})));
    throw std::runtime_error("validation failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(torch::equal(p, values({3, 4}))) << "trained weights back after the throw";
  { AverageSwappedIn none(nullptr); }
  EXPECT_TRUE(torch::equal(p, values({3, 4})));
}

TEST(WeightAverage, SetAveragedRestoresAndRejectsAMismatch) {
  torch::Tensor p = values({1, 2});
  WeightAverage avg({p}, 0.9);
  avg.set_averaged({values({8, 9})});
  EXPECT_TRUE(torch::equal(avg.averaged()[0], values({8, 9})));
  EXPECT_THROW(avg.set_averaged({values({1, 2}), values({3})}), std::runtime_error);
  EXPECT_THROW(avg.set_averaged({values({1, 2, 3})}), std::runtime_error);
  EXPECT_TRUE(torch::equal(avg.averaged()[0], values({8, 9}))) << "unchanged after a rejection";
}
