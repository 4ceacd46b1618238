#include "launch_env.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace cosal::train {

namespace {

long parse_int(const char* name, const char* value, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value, &end, 10);
  if (end == value || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw std::invalid_argument(std::string(name) + ": not an integer in [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]: '" + value + "'");
  return v;
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    if (nodelist[end] == ']') --depth;
    if (nodelist[end] == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  // "prefix[07-09,12]suffix": the range's first number keeps its zero padding.
  const size_t close = first.find(']', open);
  if (close == std::string::npos) throw std::invalid_argument("bad Slurm node list: " + nodelist);
  const std::string inside = first.substr(open + 1, close - open - 1);
  const std::string lowest = inside.substr(0, inside.find_first_of(",-"));
  return first.substr(0, open) + lowest + first.substr(close + 1);
}

LaunchEnv launch_from_environment(const std::function<const char*(const char*)>& getenv) {
  auto get = [&](const char* k) -> const char* {
    const char* v = getenv(k);
    return v && *v ? v : nullptr;
  };
  LaunchEnv env;
  const char* rank = get("RANK");
  const char* world = get("WORLD_SIZE");
  if (rank || world) {
    if (!rank || !world)
      throw std::invalid_argument("RANK and WORLD_SIZE: set both (torchrun's convention) or none");
    env.source = "torchrun";
    env.world = static_cast<int>(parse_int("WORLD_SIZE", world, 1, 4096));
    env.rank = static_cast<int>(parse_int("RANK", rank, 0, env.world - 1));
    env.master_addr = "127.0.0.1";
    env.master_port = 29500;  // TCPStore's default, as torch.distributed
  } else if (get("SLURM_PROCID") && (get("SLURM_STEP_ID") || get("SLURM_STEPID"))) {
    // A task of an srun step. An sbatch script alone also has SLURM_PROCID
    // and SLURM_NTASKS but no step id: it is one process, not a rank.
    env.source = "slurm";
    const char* ntasks = get("SLURM_STEP_NUM_TASKS");
    const char* ntasks_name = "SLURM_STEP_NUM_TASKS";
    if (!ntasks) {
      ntasks = get("SLURM_NTASKS");
      ntasks_name = "SLURM_NTASKS";
    }
    if (!ntasks) throw std::invalid_argument("SLURM_PROCID without SLURM_NTASKS");
    env.world = static_cast<int>(parse_int(ntasks_name, ntasks, 1, 4096));
    env.rank = static_cast<int>(parse_int("SLURM_PROCID", get("SLURM_PROCID"), 0, env.world - 1));
    // Task 0 runs on the step's first node (srun's block distribution).
    // SLURM_LAUNCH_NODE_IPADDR is where srun ran, possibly a login node
    // outside the step, so it is not used.
    const char* nodes = get("SLURM_STEP_NUM_NODES");
    const char* nodelist = get("SLURM_STEP_NODELIST");
    if (!nodelist) nodelist = get("SLURM_JOB_NODELIST");
    if (!nodelist) nodelist = get("SLURM_NODELIST");
    if ((nodes && std::string(nodes) == "1") || !nodelist)
      env.master_addr = "127.0.0.1";
    else
      env.master_addr = first_slurm_host(nodelist);
    // A port per job and step, so concurrent jobs on a node do not collide:
    // 20000-29999.
    const char* job = get("SLURM_JOB_ID");
    if (!job) job = get("SLURM_JOBID");
    const char* step = get("SLURM_STEP_ID");
    if (!step) step = get("SLURM_STEPID");
    const long job_id = job ? parse_int("SLURM_JOB_ID", job, 0, 1L << 40) : 0;
    const long step_id = std::strtol(step, nullptr, 10);
    env.master_port = static_cast<int>(20000 + (job_id % 1000) * 10 + (step_id % 10 + 10) % 10);
  } else {
    return env;
  }
  if (const char* a = get("MASTER_ADDR")) env.master_addr = a;
  if (const char* p = get("MASTER_PORT"))
    env.master_port = static_cast<int>(parse_int("MASTER_PORT", p, 1, 65535));
  return env;
}

}  // namespace cosal::train
