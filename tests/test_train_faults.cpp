// cosal-train survives faults, as a real process: SIGINT stops it cleanly
// after a checkpoint (exit 130) and --resume then reproduces the
// uninterrupted run; SIGKILL while a checkpoint is being written leaves the
// previous checkpoint valid and resumable; and the atomic writer, killed in
// the middle of a write, leaves the previous file intact.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "image.h"
#include "rcan_io.h"
#include "test_util.h"
#include "tiny_training_data.h"
#include "weights_compare.h"
#include "weights_io.h"

namespace fs = std::filesystem;
using cosal::test::max_weight_difference;
using cosal::test::slurp;

namespace {

const fs::path& root() {
  // Two sequences of 6 frames at 64x48 and two 48x48 stamps.
  static const fs::path r = [] {
    const fs::path p =
        cosal::test::write_tiny_training_data("cosal-train-faults", {2, 6, 64, 48, 2, 48});
    return p;
  }();
  return r;
}
const auto* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new cosal::test::RemoveAtExit([] { return root(); }));

fs::path train_exe() { return cosal::test::cosal_train_exe(); }

// Enough steps that 8 kills, each after at least one more checkpoint, land
// before the end even on a fast machine (30 was too few at ~10 ms per step).
constexpr int kSteps = 80;

// The tiny recipe; `name` is the run's folder (model + work dir).
std::vector<std::string> train_args(const std::string& name, int checkpoint_every) {
  const fs::path run = root() / name;
  std::vector<std::string> a{train_exe().string()};
  const auto data = cosal::test::tiny_cli_args(root());
  a.insert(a.end(), data.begin(), data.end());
  a.insert(a.end(), {"--steps",
                     std::to_string(kSteps),
                     "--warmup",
                     "2",
                     "--lr",
                     "1e-3",
                     "--coperceptual-every",
                     "2",
                     "--val-every",
                     "0",
                     "--threads",
                     "1",
                     "--seed",
                     "9",
                     "--checkpoint-every",
                     std::to_string(checkpoint_every),
                     "--out",
                     (run / "model.safetensors").string(),
                     "--work-dir",
                     (run / "work").string()});
  return a;
}

// Starts the tool with stdout+stderr into `log`; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
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

int wait_exit(pid_t pid, int* signal_out = nullptr) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (signal_out) *signal_out = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Watches a folder for checkpoint files being created (the temporary file)
// and renamed into place.
class DirWatch {
 public:
  explicit DirWatch(const fs::path& dir) {
    fs::create_directories(dir);
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO);
  }
  ~DirWatch() { ::close(fd_); }
  DirWatch(const DirWatch&) = delete;
  DirWatch& operator=(const DirWatch&) = delete;
  // Waits for an event whose name starts with `prefix` and (for a rename)
  // equals it; returns false on timeout.
  bool wait_for(const std::string& name, bool temporary, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    alignas(inotify_event) char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        const std::string evname = ev->len ? ev->name : "";
        if (temporary ? (evname.rfind(name + ".tmp", 0) == 0 && (ev->mask & IN_CREATE))
                      : (evname == name && (ev->mask & IN_MOVED_TO)))
          return true;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    return false;
  }

 private:
  int fd_ = -1;
};

// The checkpoint's step, read the way --resume reads the file (a torn or
// truncated archive throws).
int64_t checkpoint_step(const fs::path& path) {
  torch::serialize::InputArchive root, model, optim;
  root.load_from(path.string());
  torch::Tensor t;
  root.read("format", t);
  root.read("model", model);
  root.read("optimizer", optim);
  root.read("step", t);
  return t.item<int64_t>();
}

// The uninterrupted run everything is compared with (trained once).
const std::string& reference_model() {
  static const std::string model = [] {
    const auto args = train_args("reference", 0);
    const int rc = wait_exit(spawn(args, root() / "reference.log"));
    EXPECT_EQ(rc, 0) << slurp(root() / "reference.log");
    return (root() / "reference/model.safetensors").string();
  }();
  return model;
}

}  // namespace

TEST(TrainFaults, SigintCheckpointsExitsCleanlyAndResumeReproducesTheRun) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  const std::string& ref = reference_model();
  ASSERT_TRUE(fs::exists(ref));
  const fs::path run = root() / "sigint", work = run / "work";
  DirWatch watch(work);
  auto args = train_args("sigint", 2);
  const pid_t pid = spawn(args, run / "log1.txt");
  // Interrupt once training has really started (the first periodic checkpoint).
  ASSERT_TRUE(watch.wait_for("checkpoint.pt", false, 120000)) << slurp(run / "log1.txt");
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int sig = 0;
  const int rc = wait_exit(pid, &sig);
  const std::string log1 = slurp(run / "log1.txt");
  EXPECT_EQ(rc, 130) << "signal " << sig << "\n" << log1;
  EXPECT_NE(log1.find("stopped at step"), std::string::npos) << log1;
  EXPECT_FALSE(fs::exists(run / "model.safetensors")) << "an interrupted run wrote the model";
  const int64_t stopped = checkpoint_step(work / "checkpoint.pt");
  EXPECT_GE(stopped, 2);
  EXPECT_LT(stopped, kSteps) << "SIGINT came too late to test anything";
  for (const auto& e : fs::directory_iterator(work))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << "left a temporary file: " << e.path();

  // Without --resume or --force a new run refuses to clobber the checkpoint.
  EXPECT_EQ(wait_exit(spawn(args, run / "log2.txt")), 1);
  EXPECT_NE(slurp(run / "log2.txt").find("--resume"), std::string::npos);

  args.push_back("--resume");
  ASSERT_EQ(wait_exit(spawn(args, run / "log3.txt")), 0) << slurp(run / "log3.txt");
  EXPECT_NE(slurp(run / "log3.txt").find("resumed at step " + std::to_string(stopped)),
            std::string::npos)
      << slurp(run / "log3.txt");
  std::map<std::string, std::string> meta;
  cosal::load_rcan((run / "model.safetensors").string(), &meta);
  EXPECT_NE(meta["cosal.provenance"].find("\"steps\":" + std::to_string(kSteps)),
            std::string::npos);
  // Same run: stopping and resuming changes nothing.
  EXPECT_LE(max_weight_difference(ref, (run / "model.safetensors").string()), 1e-6);
  std::printf(
      "SIGINT at step %lld: exit 130, checkpoint valid, resumed to %d, equal to the "
      "uninterrupted run\n",
      static_cast<long long>(stopped), kSteps);
}

// SIGKILL the trainer the moment it creates a checkpoint's temporary file
// (so the kill lands while the new checkpoint is being written), then at
// random moments. After every kill the last checkpoint must load; resuming
// after all the kills must still reproduce the uninterrupted run.
TEST(TrainFaults, SigkillWhileWritingACheckpointLeavesThePreviousOneValid) {
  if (!fs::exists(train_exe())) GTEST_SKIP() << "cosal-train not built (COSAL_BUILD_DIR)";
  const std::string& ref = reference_model();
  ASSERT_TRUE(fs::exists(ref));
  const fs::path run = root() / "sigkill", work = run / "work";
  auto args = train_args("sigkill", 1);  // a checkpoint every step: always writing
  int64_t last_step = -1;
  int kills = 0, torn = 0;
  std::mt19937 rng(42);
  for (int trial = 0; trial < 8; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    DirWatch watch(work);
    const fs::path log = run / ("log" + std::to_string(trial) + ".txt");
    const pid_t pid = spawn(args, log);
    if (trial < 5) {
      // Let one checkpoint land, then kill at the next one's temporary file.
      ASSERT_TRUE(watch.wait_for("checkpoint.pt", false, 120000)) << slurp(log);
      ASSERT_TRUE(watch.wait_for("checkpoint.pt", true, 120000)) << slurp(log);
    } else {
      ASSERT_TRUE(watch.wait_for("checkpoint.pt", false, 120000)) << slurp(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 30));
    }
    ::kill(pid, SIGKILL);
    int sig = 0;
    wait_exit(pid, &sig);
    if (sig != SIGKILL) {
      ADD_FAILURE() << "the run ended before the kill\n" << slurp(log);
      break;
    }
    ++kills;
    bool tmp_left = false;
    for (const auto& e : fs::directory_iterator(work))
      tmp_left = tmp_left || e.path().filename().string().rfind("checkpoint.pt.tmp", 0) == 0;
    torn += tmp_left;
    int64_t step = -1;
    ASSERT_NO_THROW(step = checkpoint_step(work / "checkpoint.pt"));
    EXPECT_GT(step, last_step) << "each resumed run makes progress";
    ASSERT_LT(step, kSteps) << "too slow to kill before the end";
    last_step = step;
    if (trial == 0) args.push_back("--resume");
  }
  ASSERT_EQ(wait_exit(spawn(args, run / "final.txt")), 0) << slurp(run / "final.txt");
  EXPECT_LE(max_weight_difference(ref, (run / "model.safetensors").string()), 1e-6);
  // The killed writers' temporary files are cleaned up by the next writer.
  for (const auto& e : fs::directory_iterator(work))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "left behind: " << e.path();
  std::printf(
      "%d SIGKILLs (%d with the new checkpoint's temporary file half-written): the "
      "previous checkpoint loaded every time; resumed to the same model\n",
      kills, torn);
}

// The writer itself, killed (SIGKILL) while a large file is half-written: the
// previous content is intact and only a temporary file is left.
TEST(TrainFaults, AtomicWriteKilledMidWriteKeepsThePreviousFile) {
  const fs::path dir = root() / "atomic";
  fs::create_directories(dir);
  const std::string path = (dir / "checkpoint.pt").string();
  cosal::train::write_file_atomic(path, "previous checkpoint");
  const std::string big(64u << 20, 'x');
  int caught = 0;
  for (int attempt = 0; attempt < 10 && caught < 3; ++attempt) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      cosal::train::write_file_atomic(path, big);
      ::_exit(0);
    }
    // Kill as soon as the temporary file holds some but not all bytes.
    const std::string tmp = path + ".tmp-" + std::to_string(pid);
    bool killed = false, exited = false;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!killed && !exited && std::chrono::steady_clock::now() < deadline) {
      struct stat st {};
      if (::stat(tmp.c_str(), &st) == 0 && st.st_size > 0 &&
          static_cast<size_t>(st.st_size) < big.size()) {
        ::kill(pid, SIGKILL);
        killed = true;
      } else {
        exited = ::waitpid(pid, &status, WNOHANG) == pid;
      }
    }
    int sig = 0;
    if (!exited) {
      if (!killed) ::kill(pid, SIGKILL);
      wait_exit(pid, &sig);
    }
    if (killed && sig == SIGKILL) {
      ++caught;
      EXPECT_EQ(slurp(path), "previous checkpoint");
      EXPECT_TRUE(fs::exists(tmp));
    }
    fs::remove(tmp);
    if (!killed || sig != SIGKILL) cosal::train::write_file_atomic(path, "previous checkpoint");
  }
  EXPECT_GE(caught, 1) << "never caught the writer mid-write";
  std::printf("atomic writer killed mid-write %d times: previous file intact each time\n", caught);
}
