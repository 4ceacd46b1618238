#include "data_parallel.h"

#include <arpa/inet.h>

#include <stdexcept>
#include <string>

#if COSAL_HAVE_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace cosal::train {

#if COSAL_HAVE_GLOO

struct DataParallel::Groups {
  c10::intrusive_ptr<c10d::Store> store;
  // Gloo's timeout is per process group (1.13 ignores the per-call one), so
  // the short and the long wait each have a group.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> step, wait;
};

namespace {

bool is_loopback(const std::string& addr) {
  in_addr a{};
  return addr == "localhost" ||
         (inet_pton(AF_INET, addr.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127) ||
         addr == "::1";
}

void run(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("data-parallel ") + what +
                             " failed (a rank stopped or timed out?): " + e.what());
  }
}

}  // namespace

DataParallel::DataParallel(const LaunchEnv& env, std::chrono::milliseconds step_timeout,
                           std::chrono::milliseconds wait_timeout)
    : rank_(env.rank), world_(env.world) {
  if (world_ <= 1) return;
  groups_ = std::make_unique<Groups>();
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = rank_ == 0;
    so.numWorkers = world_;
    so.waitWorkers = true;
    so.timeout = step_timeout;
    groups_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    // GLOO_SOCKET_IFNAME picks the interface as in torch.distributed; a
    // loopback rendezvous means one machine, so the ranks talk over
    // loopback too; otherwise this host's address.
    std::shared_ptr<gloo::transport::Device> device;
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      device = c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    else if (is_loopback(env.master_addr))
      device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    else
      device = c10d::ProcessGroupGloo::createDefaultDevice();
    auto make = [&](const char* name, std::chrono::milliseconds timeout) {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(device);
      options->threads = 1;  // one collective at a time: the step waits for it
      return c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>(name, groups_->store), rank_, world_, options);
    };
    groups_->step = make("step", step_timeout);
    groups_->wait = make("wait", wait_timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(rank_) + " of " + std::to_string(world_) +
                             ": cannot join the process group at " + where + ": " + e.what());
  }
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (!groups_) return;
  for (const auto& t : tensors) {
    // Gloo broadcasts contiguous CPU tensors; copy back into `t` in place.
    std::vector<torch::Tensor> buf{t.detach().to(torch::kCPU).contiguous()};
    run(groups_->wait->broadcast(buf), "broadcast");
    torch::NoGradGuard ng;
    t.copy_(buf[0]);
  }
}

void DataParallel::all_reduce_step(const std::vector<torch::Tensor>& params,
                                   std::vector<double>& sums) {
  if (!groups_) return;
  // [gradients | one "defined" flag per parameter | sums] in float32.
  std::vector<torch::Tensor> parts;
  for (const auto& p : params)
    parts.push_back(p.grad().defined()
                        ? p.grad().detach().to(torch::kCPU, torch::kFloat).reshape(-1)
                        : torch::zeros({p.numel()}, torch::kFloat));
  auto flags = torch::empty({static_cast<int64_t>(params.size())}, torch::kFloat);
  for (size_t i = 0; i < params.size(); ++i)
    flags[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1.f : 0.f;
  parts.push_back(flags);
  parts.push_back(torch::tensor(std::vector<float>(sums.begin(), sums.end()), torch::kFloat));
  std::vector<torch::Tensor> buf{torch::cat(parts)};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  run(groups_->step->allreduce(buf, opts), "gradient all-reduce");
  const torch::Tensor flat = buf[0];
  int64_t off = 0;
  const int64_t n_params = static_cast<int64_t>(params.size());
  int64_t flag_off = 0;
  for (const auto& p : params) flag_off += p.numel();
  const auto reduced_flags = flat.narrow(0, flag_off, n_params);
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < n_params; ++i) {
    const torch::Tensor& p = params[static_cast<size_t>(i)];
    const torch::Tensor g = flat.narrow(0, off, p.numel()).view(p.sizes());
    off += p.numel();
    if (reduced_flags[i].item<float>() == 0) continue;
    const torch::Tensor avg = (g / world_).to(p.device(), p.scalar_type());
    if (p.grad().defined())
      p.mutable_grad().copy_(avg);
    else
      p.mutable_grad() = avg;
  }
  const auto s = flat.narrow(0, flag_off + n_params, static_cast<int64_t>(sums.size()));
  for (size_t i = 0; i < sums.size(); ++i) sums[i] = s[static_cast<int64_t>(i)].item<double>();
}

void DataParallel::wait_for_all() {
  if (!groups_) return;
  run(groups_->wait->barrier(), "barrier");
}

int64_t DataParallel::from_main(int64_t value) {
  if (!groups_) return value;
  std::vector<torch::Tensor> buf{torch::tensor({value}, torch::kLong)};
  run(groups_->wait->broadcast(buf), "broadcast");
  return buf[0].item<int64_t>();
}

#else  // no Gloo headers at build time

struct DataParallel::Groups {};

DataParallel::DataParallel(const LaunchEnv& env, std::chrono::milliseconds,
                           std::chrono::milliseconds)
    : rank_(env.rank), world_(env.world) {
  if (world_ > 1)
    throw std::runtime_error(
        "this build has no Gloo, so no data-parallel training (install libgloo-dev and "
        "reconfigure)");
}
void DataParallel::broadcast(const std::vector<torch::Tensor>&) {}
void DataParallel::all_reduce_step(const std::vector<torch::Tensor>&, std::vector<double>&) {}
void DataParallel::wait_for_all() {}
int64_t DataParallel::from_main(int64_t value) { return value; }

#endif

DataParallel::DataParallel() = default;
DataParallel::~DataParallel() = default;

}  // namespace cosal::train
