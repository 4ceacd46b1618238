#include "checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "sync_dir.h"

namespace cosal::train {

namespace {

// A writer killed between creating its temporary file and the rename leaves
// <path>.tmp-<pid> behind; remove those of processes that no longer exist.
void remove_stale_temporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  const auto dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(digits.c_str(), nullptr, 10);
    if (pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  remove_stale_temporaries(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(tmp + ": " + err);
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (::close(fd) != 0 || !synced) {
    const std::string err = std::strerror(synced ? errno : sync_errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(tmp + ": " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(path + ": " + err);
  }
  sync_parent_dir(path);
}

namespace {

torch::Tensor string_tensor(const std::string& s) {
  auto t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr<uint8_t>(), s.data(), s.size());
  return t;
}

std::string tensor_string(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()),
                     static_cast<size_t>(c.numel()));
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& net,
                     torch::optim::Optimizer& optimizer, const TrainState& state) {
  torch::serialize::OutputArchive root, model, optim;
  net.save(model);
  optimizer.save(optim);
  root.write("model", model);
  root.write("optimizer", optim);
  root.write("format", string_tensor("cosal-train-checkpoint-1"));
  root.write("step", torch::tensor(state.step, torch::kInt64));
  root.write("rng", string_tensor(state.rng));
  root.write("best_score", torch::tensor(state.best_score, torch::kFloat64));
  root.write("best_step", torch::tensor(state.best_step, torch::kInt64));
  root.write("bad_validations", torch::tensor(state.bad_validations, torch::kInt64));
  root.write("elapsed_s", torch::tensor(state.elapsed_s, torch::kFloat64));
  root.write("best_metrics", string_tensor(state.best_metrics));
  // Only with a weight average, so other checkpoints keep their layout.
  if (!state.averaged.empty()) {
    root.write("averaged_count",
               torch::tensor(static_cast<int64_t>(state.averaged.size()), torch::kInt64));
    for (size_t i = 0; i < state.averaged.size(); ++i)
      root.write("averaged_" + std::to_string(i), state.averaged[i].detach().cpu());
  }
  std::ostringstream os;
  root.save_to(os);
  write_file_atomic(path, os.str());
}

TrainState load_checkpoint(const std::string& path, torch::nn::Module& net,
                           torch::optim::Optimizer& optimizer) {
  TrainState st;
  try {
    torch::serialize::InputArchive root, model, optim;
    root.load_from(path);
    // A fresh tensor for every entry: InputArchive::read into a defined
    // tensor re-points that tensor's storage but keeps its dtype, so reusing
    // one tensor read the int64 step through the uint8 format string's
    // dtype (step 776 came back as 8).
    auto entry = [&](const char* key) {
      torch::Tensor t;
      root.read(key, t);
      return t;
    };
    if (tensor_string(entry("format")) != "cosal-train-checkpoint-1")
      throw std::runtime_error("not a cosal-train checkpoint");
    root.read("model", model);
    root.read("optimizer", optim);
    net.load(model);
    optimizer.load(optim);
    st.step = entry("step").item<int64_t>();
    st.rng = tensor_string(entry("rng"));
    st.best_score = entry("best_score").item<double>();
    st.best_step = entry("best_step").item<int64_t>();
    st.bad_validations = entry("bad_validations").item<int64_t>();
    st.elapsed_s = entry("elapsed_s").item<double>();
    st.best_metrics = tensor_string(entry("best_metrics"));
    torch::Tensor count;
    if (root.try_read("averaged_count", count)) {
      const int64_t n = count.item<int64_t>();
      if (n < 0 || n > 100000) throw std::runtime_error("bad averaged_count");
      for (int64_t i = 0; i < n; ++i)
        st.averaged.push_back(entry(("averaged_" + std::to_string(i)).c_str()));
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": cannot read checkpoint (" + e.what_without_backtrace() +
                             ")");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return st;
}

}  // namespace cosal::train
