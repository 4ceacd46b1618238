// Data-parallel training over c10d's Gloo process group (CPU, TCP): rank 0
// serves the rendezvous TCPStore, every rank holds a full copy of the model,
// trains on its own share of each global batch, and the gradients are
// averaged before each optimizer step, so W ranks with B groups each take
// the same steps as one process with W x B groups.
//
// Two timeouts: the per-step collectives give up after `step_timeout` (a
// stopped or hung peer then fails the run instead of hanging it); waits for
// rank 0's own long work (feature encoding, validation, checkpoints, the
// final model) allow `wait_timeout`. A peer that dies closes its sockets,
// which fails the others' next collective at once.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "launch_env.h"

namespace cosal::train {

class DataParallel {
 public:
  // One rank, no process group: collectives return their input.
  DataParallel();
  // Joins the process group `env` describes (world > 1): blocks until every
  // rank has connected or `step_timeout` passed. Throws std::runtime_error
  // (also when this build has no Gloo).
  DataParallel(const LaunchEnv& env, std::chrono::milliseconds step_timeout,
               std::chrono::milliseconds wait_timeout);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool main() const { return rank_ == 0; }

  // Overwrites `tensors` (CPU, the same shapes on every rank) with rank 0's.
  void broadcast(const std::vector<torch::Tensor>& tensors);

  // One message per step: the gradients of `params` are averaged over the
  // ranks (sum / world) and `sums` summed. A gradient no rank computed stays
  // undefined, as it would in one process (an optimizer skips it).
  void all_reduce_step(const std::vector<torch::Tensor>& params, std::vector<double>& sums);

  // Returns once every rank got here; allows `wait_timeout`, as the others
  // wait here for rank 0's one-sided work.
  void wait_for_all();
  // Rank 0's `value` on every rank (a decision only rank 0 can take, such
  // as an early stop after its validation); allows `wait_timeout`.
  int64_t from_main(int64_t value);

 private:
  struct Groups;
  int rank_ = 0, world_ = 1;
  std::unique_ptr<Groups> groups_;
};

}  // namespace cosal::train
