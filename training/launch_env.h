// Where this process sits in a data-parallel launch: its rank, the number of
// ranks and rank 0's rendezvous address, read from the variables torchrun or
// srun set. Torch-free, so the command line and tests can use it cheaply.
#pragma once

#include <cstdlib>
#include <functional>
#include <string>

namespace cosal::train {

struct LaunchEnv {
  int rank = 0, world = 1;
  std::string master_addr;  // rank 0's TCPStore (only when world > 1)
  int master_port = 0;
  std::string source = "none";  // "torchrun" (RANK, WORLD_SIZE), "slurm" or "none"
  bool distributed() const { return world > 1; }
};

// RANK and WORLD_SIZE (with MASTER_ADDR, default 127.0.0.1, and MASTER_PORT,
// default 29500) win; else an srun task (SLURM_PROCID with SLURM_STEP_ID set,
// SLURM_STEP_NUM_TASKS or SLURM_NTASKS ranks) takes rank 0's address from the
// first host of SLURM_STEP_NODELIST (127.0.0.1 for a one-node step) and a
// port from the job and step ids; MASTER_ADDR and MASTER_PORT override both.
// Nothing set: one rank. Throws std::invalid_argument naming the variable
// on a malformed or inconsistent value. `getenv` is injectable for tests.
LaunchEnv launch_from_environment(const std::function<const char*(const char*)>& getenv =
                                      [](const char* k) { return std::getenv(k); });

// The first host of a Slurm node list: "n[07-09,12],m1" -> "n07".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace cosal::train
