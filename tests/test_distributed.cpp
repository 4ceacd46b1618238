// Data-parallel cosal-train: where a process sits in a launch (torchrun's
// and srun's variables), and two ranks on loopback against one process:
// 2 ranks x B groups must take the steps of 1 rank x 2B groups, a stop on
// one rank stops both at the same step, and a killed rank does not hang
// the other.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "launch_env.h"
#include "test_util.h"
#include "tiny_training_data.h"
#include "weights_compare.h"

namespace fs = std::filesystem;
using cosal::test::slurp;
using cosal::train::launch_from_environment;
using cosal::train::LaunchEnv;

namespace {

LaunchEnv from(const std::map<std::string, std::string>& vars) {
  return launch_from_environment([&](const char* k) -> const char* {
    const auto it = vars.find(k);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST(LaunchEnv, NothingSetIsOneRank) {
  const LaunchEnv e = from({});
  EXPECT_EQ(e.world, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_FALSE(e.distributed());
  // An sbatch script has SLURM_PROCID and SLURM_NTASKS but is no srun task.
  EXPECT_FALSE(from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}).distributed());
}

TEST(LaunchEnv, TorchrunVariables) {
  LaunchEnv e = from({{"RANK", "1"}, {"WORLD_SIZE", "3"}});
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world, 3);
  EXPECT_EQ(e.master_addr, "127.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_EQ(e.source, "torchrun");
  e = from({{"RANK", "0"},
            {"WORLD_SIZE", "2"},
            {"MASTER_ADDR", "10.0.0.5"},
            {"MASTER_PORT", "1234"},
            {"SLURM_PROCID", "1"},
            {"SLURM_STEP_ID", "0"},
            {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(e.rank, 0) << "RANK wins over SLURM_PROCID (torchrun inside srun)";
  EXPECT_EQ(e.master_addr, "10.0.0.5");
  EXPECT_EQ(e.master_port, 1234);
  EXPECT_THROW(from({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), std::invalid_argument);
  EXPECT_THROW(from({{"RANK", "0"}}), std::invalid_argument);
  EXPECT_THROW(from({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), std::invalid_argument);
  EXPECT_THROW(from({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}),
               std::invalid_argument);
}

TEST(LaunchEnv, SrunTask) {
  // What srun -n 2 sets on one node (task 1).
  LaunchEnv e = from({{"SLURM_PROCID", "1"},
                      {"SLURM_STEP_ID", "3"},
                      {"SLURM_STEP_NUM_TASKS", "2"},
                      {"SLURM_NTASKS", "2"},
                      {"SLURM_STEP_NUM_NODES", "1"},
                      {"SLURM_STEP_NODELIST", "node1"},
                      {"SLURM_JOB_ID", "4711"}});
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world, 2);
  EXPECT_EQ(e.master_addr, "127.0.0.1") << "one node: loopback";
  EXPECT_EQ(e.master_port, 20000 + 711 * 10 + 3);
  // Several nodes: task 0's node, the step's first.
  e = from({{"SLURM_PROCID", "0"},
            {"SLURM_STEP_ID", "0"},
            {"SLURM_STEP_NUM_TASKS", "4"},
            {"SLURM_STEP_NUM_NODES", "2"},
            {"SLURM_STEP_NODELIST", "gpu[07-08]"},
            {"SLURM_JOB_ID", "12"},
            {"MASTER_PORT", "40000"}});
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.master_port, 40000) << "MASTER_PORT wins";
  EXPECT_THROW(from({{"SLURM_PROCID", "2"}, {"SLURM_STEP_ID", "0"}, {"SLURM_NTASKS", "2"}}),
               std::invalid_argument);
}

TEST(LaunchEnv, FirstSlurmHost) {
  EXPECT_EQ(cosal::train::first_slurm_host("node1"), "node1");
  EXPECT_EQ(cosal::train::first_slurm_host("n[07-09,12],m1"), "n07");
  EXPECT_EQ(cosal::train::first_slurm_host("a1,b[2-3]"), "a1");
  EXPECT_EQ(cosal::train::first_slurm_host("rack[3,1]-x"), "rack3-x");
}

namespace {

const fs::path& root() {
  static const fs::path r =
      cosal::test::write_tiny_training_data("cosal-train-ddp", {2, 6, 64, 48, 2, 48});
  return r;
}
const auto* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new cosal::test::RemoveAtExit([] { return root(); }));

fs::path train_exe() { return cosal::test::cosal_train_exe(); }

constexpr int kSteps = 12;

// Polls for `path` (the ranks' first periodic checkpoint: training runs).
bool wait_for_file(const fs::path& path, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return fs::exists(path);
}

// The tiny recipe with a log row every step; `name` is the run's folder.
std::vector<std::string> train_args(const std::string& name, int batch_groups,
                                    const std::string& optimizer = "sgd", int steps = kSteps) {
  const fs::path run = root() / name;
  std::vector<std::string> a{train_exe().string()};
  const auto data = cosal::test::tiny_cli_args(root());
  a.insert(a.end(), data.begin(), data.end());
  a.insert(a.end(), {"--steps",
                     std::to_string(steps),
                     "--warmup",
                     "2",
                     "--optimizer",
                     optimizer,
                     "--lr",
                     optimizer == "sgd" ? "0.05" : "1e-3",
                     "--coperceptual-every",
                     "2",
                     "--val-every",
                     "0",
                     "--checkpoint-every",
                     "4",
                     "--log-every",
                     "1",
                     "--threads",
                     "1",
                     "--seed",
                     "9",
                     "--batch-groups",
                     std::to_string(batch_groups),
                     "--dist-timeout",
                     "20",
                     "--out",
                     (run / "model.safetensors").string(),
                     "--work-dir",
                     (run / "work").string()});
  return a;
}

// A port nobody listens on now (the kernel's pick for an ephemeral bind).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Starts the tool with `env` added (an empty value unsets) and stdout+stderr into `log`.
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env)
      v.empty() ? ::unsetenv(k.c_str()) : ::setenv(k.c_str(), v.c_str(), 1);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::map<std::string, std::string> rank_env(int rank, int world, int port) {
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)}};
}

// Runs `world` ranks of `args` (a folder per rank's log); returns their exit statuses.
std::vector<int> run_ranks(const std::vector<std::string>& args, int world, const fs::path& dir) {
  fs::create_directories(dir);
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r)
    pids.push_back(spawn(args, rank_env(r, world, port), dir / ("rank" + std::to_string(r))));
  std::vector<int> rc;
  for (pid_t p : pids) rc.push_back(wait_exit(p));
  return rc;
}

// log.csv's training rows: step -> loss.
std::map<int, double> losses(const fs::path& work) {
  std::ifstream in(work / "log.csv");
  std::string line;
  std::getline(in, line);  // header
  std::map<int, double> out;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string step, lr, loss;
    std::getline(ss, step, ',');
    std::getline(ss, lr, ',');
    std::getline(ss, loss, ',');
    if (!loss.empty()) out[std::stoi(step)] = std::stod(loss);
  }
  return out;
}

std::string logs(const fs::path& dir) {
  std::string all;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("rank", 0) == 0)
      all += "--- " + e.path().filename().string() + "\n" + slurp(e.path());
  return all;
}

}  // namespace

// 2 ranks x 2 groups against 1 rank x 4 groups: the same groups each step,
// so the same losses and weights up to float rounding. The two differ only
// in the order of float sums: one process accumulates the 4 groups'
// gradients as ((g1+g2)+g3)+g4, two ranks as (g1+g2)+(g3+g4) through the
// all-reduce (the divisions by 2 and 4 are exact), and the logged loss goes
// through the all-reduce in float32. Each differs by a few float32 ulps
// (~1e-7 relative) per step; over 12 small steps that stays far below 1e-5
// relative on the losses and 1e-5 absolute on the weights (O(0.1-1)), and
// a single thread per process makes every run repeat its rounding exactly,
// so the bound does not flake. A real mismatch (a wrong slice of the batch,
// gradients not averaged, no broadcast) moves the loss by percents from the
// first step. Adam's g/sqrt(v) can amplify rounding where a gradient is
// near zero, so it is checked as well as plain SGD.
TEST(DataParallel, TwoRanksTakeTheStepsOfOneRankWithTheirBatchesTogether) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  for (const std::string optimizer : {"sgd", "adam"}) {
    SCOPED_TRACE(optimizer);
    const fs::path one = root() / ("one-" + optimizer), two = root() / ("two-" + optimizer);
    const auto t0 = std::chrono::steady_clock::now();
    const auto rc1 = run_ranks(train_args("one-" + optimizer, 4, optimizer), 1, one / "logs");
    ASSERT_EQ(rc1[0], 0) << logs(one / "logs");
    const auto t1 = std::chrono::steady_clock::now();
    const auto rc2 = run_ranks(train_args("two-" + optimizer, 2, optimizer), 2, two / "logs");
    ASSERT_EQ(rc2, (std::vector<int>{0, 0})) << logs(two / "logs");
    const auto t2 = std::chrono::steady_clock::now();

    const auto a = losses(one / "work"), b = losses(two / "work");
    ASSERT_EQ(a.size(), static_cast<size_t>(kSteps));
    ASSERT_EQ(b.size(), static_cast<size_t>(kSteps)) << "only rank 0 writes the log";
    double worst = 0;
    for (const auto& [step, la] : a) {
      const double rel = std::abs(b.at(step) - la) / std::abs(la);
      worst = std::max(worst, rel);
      EXPECT_LE(rel, 1e-5) << "step " << step << ": " << la << " vs " << b.at(step);
    }
    const double dw = cosal::test::max_weight_difference((one / "model.safetensors").string(),
                                                         (two / "model.safetensors").string());
    EXPECT_LE(dw, 1e-5);
    std::printf(
        "%s: 1 rank x 4 groups %.1f s, 2 ranks x 2 groups %.1f s; worst loss difference "
        "%.2g relative, weights %.2g\n",
        optimizer.c_str(), std::chrono::duration<double>(t1 - t0).count(),
        std::chrono::duration<double>(t2 - t1).count(), worst, dw);
    std::map<std::string, std::string> meta;
    cosal::load_rcan((two / "model.safetensors").string(), &meta);
    EXPECT_NE(meta["cosal.provenance"].find("\"ranks\":2"), std::string::npos);
  }
  // Same number of groups per step, split differently: not the same run.
  const fs::path other = root() / "other";
  ASSERT_EQ(run_ranks(train_args("other", 2), 1, other / "logs")[0], 0) << logs(other / "logs");
  EXPECT_GT(std::abs(losses(other / "work").at(1) - losses(root() / "one-sgd/work").at(1)), 1e-4)
      << "the comparison above can fail";
}

// SIGINT to rank 1 alone: both ranks stop at the same step with a
// checkpoint (exit 130); resumed, the pair finishes the uninterrupted run.
TEST(DataParallel, AStopOnOneRankStopsAllAndTheyResume) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  // Enough steps that the interrupt lands before the end.
  constexpr int kLong = 150;
  const fs::path ref = root() / "ref2", run = root() / "stop2";
  ASSERT_EQ(run_ranks(train_args("ref2", 1, "sgd", kLong), 2, ref / "logs"),
            (std::vector<int>{0, 0}))
      << logs(ref / "logs");

  const auto args = train_args("stop2", 1, "sgd", kLong);
  fs::create_directories(run / "logs");
  const int port = free_port();
  const pid_t r0 = spawn(args, rank_env(0, 2, port), run / "logs/rank0");
  const pid_t r1 = spawn(args, rank_env(1, 2, port), run / "logs/rank1");
  // Once training runs (the first periodic checkpoint), interrupt rank 1.
  ASSERT_TRUE(wait_for_file(run / "work/checkpoint.pt", std::chrono::seconds(60)))
      << logs(run / "logs");
  ::kill(r1, SIGINT);
  EXPECT_EQ(wait_exit(r0), 130) << logs(run / "logs");
  EXPECT_EQ(wait_exit(r1), 130) << logs(run / "logs");
  const std::string log0 = slurp(run / "logs/rank0");
  const auto at = log0.find("stopped at step ");
  ASSERT_NE(at, std::string::npos) << log0;
  EXPECT_FALSE(fs::exists(run / "model.safetensors"));

  const int stopped = std::atoi(log0.c_str() + at + 16);
  ASSERT_LT(stopped, kLong) << "the interrupt came too late to test anything";
  auto resume = args;
  resume.push_back("--resume");
  ASSERT_EQ(run_ranks(resume, 2, run / "logs2"), (std::vector<int>{0, 0})) << logs(run / "logs2");
  EXPECT_LE(cosal::test::max_weight_difference((ref / "model.safetensors").string(),
                                               (run / "model.safetensors").string()),
            1e-6);
}

// SIGKILL one rank mid-run: the other fails (exit 1) instead of waiting forever.
TEST(DataParallel, AKilledRankFailsTheOtherPromptly) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  const fs::path run = root() / "kill2";
  const auto args = train_args("kill2", 1, "sgd", 100000);
  fs::create_directories(run / "logs");
  const int port = free_port();
  const pid_t r0 = spawn(args, rank_env(0, 2, port), run / "logs/rank0");
  const pid_t r1 = spawn(args, rank_env(1, 2, port), run / "logs/rank1");
  ASSERT_TRUE(wait_for_file(run / "work/checkpoint.pt", std::chrono::seconds(60)))
      << logs(run / "logs");
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(r1, SIGKILL);
  EXPECT_EQ(wait_exit(r1), 128 + SIGKILL);
  EXPECT_EQ(wait_exit(r0), 1) << logs(run / "logs");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 20) << "rank 0 waited out its --dist-timeout of 20 s: the death went unnoticed";
  std::printf("rank 1 killed: rank 0 failed %.2f s later\n", s);
}

// What srun -n 2 on one node sets (no RANK or MASTER_*; MASTER_PORT only to
// avoid the job-derived port's collisions here): the same run as torchrun's
// variables give, so as one process with both ranks' groups.
TEST(DataParallel, SrunTasksTrainAsRanks) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  const fs::path one = root() / "srun-one", two = root() / "srun-two";
  ASSERT_EQ(run_ranks(train_args("srun-one", 2, "sgd", 6), 1, one / "logs")[0], 0)
      << logs(one / "logs");
  fs::create_directories(two / "logs");
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r)
    pids.push_back(spawn(train_args("srun-two", 1, "sgd", 6),
                         {{"RANK", ""},
                          {"WORLD_SIZE", ""},
                          {"MASTER_ADDR", ""},
                          {"MASTER_PORT", std::to_string(port)},
                          {"SLURM_JOB_ID", "77"},
                          {"SLURM_STEP_ID", "0"},
                          {"SLURM_PROCID", std::to_string(r)},
                          {"SLURM_LOCALID", std::to_string(r)},
                          {"SLURM_NTASKS", "2"},
                          {"SLURM_STEP_NUM_TASKS", "2"},
                          {"SLURM_STEP_NUM_NODES", "1"},
                          {"SLURM_STEP_NODELIST", "node1"}},
                         two / "logs" / ("rank" + std::to_string(r))));
  for (pid_t p : pids) EXPECT_EQ(wait_exit(p), 0) << logs(two / "logs");
  EXPECT_NE(slurp(two / "logs/rank0").find("2 data-parallel ranks (slurm, 127.0.0.1:"),
            std::string::npos)
      << slurp(two / "logs/rank0");
  EXPECT_LE(cosal::test::max_weight_difference((one / "model.safetensors").string(),
                                               (two / "model.safetensors").string()),
            1e-5);
}
