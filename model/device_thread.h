// One long-lived thread that runs a model's device work.
//
// LibTorch keeps part of its CUDA state per thread: cuDNN's execution plans
// live in a thread_local cache, so the first frame a new thread runs builds
// them all again (1.1-1.4 s for the bundled model on an H200, against 7-16 ms
// warm). GStreamer gives each pipeline its own streaming thread, so without
// this every new pipeline stalled on its first frame. A model on a CUDA
// device runs all its calls here: the plans are built once per model.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace cosal {

class DeviceThread {
 public:
  DeviceThread();
  // Runs what is queued, then joins.
  ~DeviceThread();
  DeviceThread(const DeviceThread&) = delete;
  DeviceThread& operator=(const DeviceThread&) = delete;

  // Runs `work` on the thread and returns when it has, rethrowing what it
  // threw. Called from the thread itself (work that calls back into the
  // model) it runs inline. Callers on other threads are served in order.
  void run(const std::function<void()>& work);

  // The thread's id: tests check that work ran there.
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the queue exists
};

}  // namespace cosal
