// DeviceThread: a model's device work on one long-lived thread.
#include "device_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using cosal::DeviceThread;

TEST(DeviceThread, RunsWorkOnItsOwnThreadAndReturnsWhenItIsDone) {
  DeviceThread t;
  std::thread::id ran_on;
  int value = 0;
  t.run([&] {
    ran_on = std::this_thread::get_id();
    value = 42;
  });
  EXPECT_EQ(value, 42);  // done before run returned
  EXPECT_EQ(ran_on, t.id());
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(DeviceThread, EveryCallerIsServedByTheSameThread) {
  DeviceThread t;
  std::atomic<int> elsewhere{0}, calls{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        t.run([&] {
          if (std::this_thread::get_id() != t.id()) ++elsewhere;
          ++calls;
        });
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(calls.load(), 200);
  EXPECT_EQ(elsewhere.load(), 0);
}

TEST(DeviceThread, RethrowsWhatTheWorkThrewAndKeepsWorking) {
  DeviceThread t;
  EXPECT_THROW(t.run([] { throw std::runtime_error("bad frame"); }), std::runtime_error);
  bool ran = false;
  t.run([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(DeviceThread, WorkThatCallsBackRunsInlineInsteadOfDeadlocking) {
  DeviceThread t;
  int depth = 0;
  t.run([&] {
    ++depth;
    t.run([&] { ++depth; });  // e.g. seed() calling update()
  });
  EXPECT_EQ(depth, 2);
}

TEST(DeviceThread, StartsAndStopsCleanly) {
  for (int i = 0; i < 100; ++i) {
    DeviceThread t;
    if (i % 2) t.run([] {});
  }
  SUCCEED();
}
