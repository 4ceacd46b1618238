// The inference client (engine.h) over an Rcan loaded from a weights file.
#include "engine.h"
#include "engine_impl.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include <torch/torch.h>

#include "cuda/prepost.h"
#include "device_thread.h"
#include "rcan.h"
#include "rcan_io.h"
#include "safetensors.h"

namespace cosal {

void ModelInfo::inference_size(int long_side, int width, int height, int* w, int* h) const {
  const int m = std::max(1, size_multiple);
  if (long_side <= 0) {
    *w = input_width;
    *h = input_height;
    return;
  }
  auto round_m = [m](double v) { return std::max(m, static_cast<int>(std::lround(v / m)) * m); };
  if (width >= height) {
    *w = round_m(long_side);
    *h = round_m(static_cast<double>(long_side) * height / width);
  } else {
    *h = round_m(long_side);
    *w = round_m(static_cast<double>(long_side) * width / height);
  }
}

int Features::width() const { return impl_ ? impl_->width : 0; }
int Features::height() const { return impl_ ? impl_->height : 0; }

GroupState::GroupState() : impl_(std::make_unique<Impl>()) {}
GroupState::~GroupState() = default;
GroupState::GroupState(GroupState&&) noexcept = default;
GroupState& GroupState::operator=(GroupState&&) noexcept = default;
void GroupState::reset() { impl_ = std::make_unique<Impl>(); }
// A moved-from state has no Impl and reads as empty.
bool GroupState::empty() const { return !impl_ || !impl_->g.defined(); }
int64_t GroupState::steps() const { return impl_ ? impl_->steps : 0; }

torch::Device parse_device(const std::string& name, std::string* warning) {
  const bool cuda = torch::cuda::is_available();
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "auto") {
    if (cuda) return torch::Device(torch::kCUDA, 0);
    if (warning) *warning = "CUDA is not available; running on the CPU";
    return torch::Device(torch::kCPU);
  }
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      if (digits.empty() || digits.size() > 3 ||
          digits.find_first_not_of("0123456789") != std::string::npos)
        throw ModelError("unknown device \"" + name + "\" (expected auto, cpu, cuda or cuda:N)");
      index = std::stoi(digits);
    } else if (name != "cuda") {
      throw ModelError("unknown device \"" + name + "\" (expected auto, cpu, cuda or cuda:N)");
    }
    if (!cuda)
      throw ModelError("device \"" + name + "\": CUDA is not available in this build/machine");
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw ModelError("device \"" + name + "\": only " +
                       std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ModelError("unknown device \"" + name + "\" (expected auto, cpu, cuda or cuda:N)");
}

namespace {

class RcanModel final : public Model {
 public:
  RcanModel(const std::string& path, torch::Device device) : device_(device) {
    std::map<std::string, std::string> metadata;
    // cppcheck-suppress useInitializationList
    net_ = load_rcan(path, &metadata);
    net_->eval();
    for (auto& p : net_->parameters()) p.set_requires_grad(false);
    // CUDA runs in half precision (COSAL_CUDA_FP32=1 keeps fp32); the CPU in
    // fp32. Debian's LibTorch has no CUDA: tools/gpu-check.sh runs it on a GPU.
    half_ = device_.is_cuda() && !std::getenv("COSAL_CUDA_FP32");
    if (half_)
      net_->to(device_, torch::kHalf);
    else
      net_->to(device_);
    set_up(path, metadata);
  }

  // A view over a network someone else owns and trains (view_network).
  RcanModel(std::shared_ptr<RcanImpl> net, torch::Device device)
      : net_(std::move(net)), device_(device) {
    set_up("(in memory)", {});
  }

  const ModelInfo& info() const override { return info_; }
  std::string device() const override { return device_.str(); }
  size_t weight_bytes() const override { return weight_bytes_; }

  std::vector<Features> encode(const std::vector<RgbView>& frames) const override {
    if (frames.empty()) return {};
    return on_device([&] { return encode_here(frames); });
  }

  void update(GroupState& state, const Features& frame) const override {
    on_device([&] { update_here(state, frame); });
  }

  void seed(GroupState& state, const std::vector<Features>& window) const override {
    on_device([&] {
      for (const auto& f : window) features(f);  // validate before touching the state
      state.reset();
      for (const auto& f : window) update_here(state, f);
    });
  }

  void decode(const GroupState& state, const Features& frame, float* mask) const override {
    on_device([&] { decode_here(state, frame, mask); });
  }

  std::vector<std::vector<float>> forward_group(const std::vector<RgbView>& frames) const override {
    if (frames.empty()) return {};
    return on_device([&] { return forward_group_here(frames); });
  }

 private:
  // On CUDA every call runs on the model's own thread (device_thread.h: why);
  // on the CPU in the caller's, whose LibTorch thread settings then apply.
  template <class Work>
  auto on_device(Work&& work) const -> decltype(work()) {
    using Result = decltype(work());
    if (!device_thread_) return work();
    if constexpr (std::is_void_v<Result>) {
      device_thread_->run(work);
    } else {
      std::optional<Result> result;
      device_thread_->run([&] { result.emplace(work()); });
      return std::move(*result);
    }
  }

  std::vector<Features> encode_here(const std::vector<RgbView>& frames) const {
    c10::InferenceMode guard;
    auto images = to_tensor(frames);
    BackboneFeatures f = net_->encode(images);
    std::vector<Features> out;
    out.reserve(frames.size());
    for (int64_t n = 0; n < static_cast<int64_t>(frames.size()); ++n) {
      auto impl = std::make_shared<Features::Impl>();
      impl->f.x = f.x.narrow(0, n, 1);
      for (const auto& s : f.skips) impl->f.skips.push_back(s.narrow(0, n, 1));
      impl->width = frames[0].width;
      impl->height = frames[0].height;
      out.emplace_back(std::move(impl));
    }
    return out;
  }

  void update_here(GroupState& state, const Features& frame) const {
    const Features::Impl& fi = features(frame);
    if (!state.empty()) check_group(state.impl().g, fi);
    c10::InferenceMode guard;
    if (state.empty()) state.reset();  // also revives a moved-from state
    auto& st = state.impl();
    // The baseline has no group unit: G only marks that the stream started.
    st.g = info_.uses_group ? net_->group_step(st.g, fi.f.x) : fi.f.x;
    ++st.steps;
  }

  void decode_here(const GroupState& state, const Features& frame, float* mask) const {
    const Features::Impl& fi = features(frame);
    if (!mask) throw ModelError("decode: null mask buffer");
    c10::InferenceMode guard;
    torch::Tensor g = fi.f.x;  // an empty state is a group of one: G = X_1
    if (!state.empty()) {
      check_group(state.impl().g, fi);
      g = state.impl().g;
    }
    auto masks = torch::sigmoid(net_->decode(fi.f, g, fi.height, fi.width));
    copy_out(masks, mask);
  }

  std::vector<std::vector<float>> forward_group_here(const std::vector<RgbView>& frames) const {
    c10::InferenceMode guard;
    auto images = to_tensor(frames);
    auto out = net_->forward(images);
    auto masks = out.masks.to(torch::kCPU, torch::kFloat).contiguous();
    const size_t plane = static_cast<size_t>(frames[0].width) * frames[0].height;
    std::vector<std::vector<float>> result(frames.size(), std::vector<float>(plane));
    for (size_t n = 0; n < frames.size(); ++n)
      std::memcpy(result[n].data(), masks[static_cast<int64_t>(n)].data_ptr<float>(),
                  plane * sizeof(float));
    return result;
  }

  // What both constructors end with: the description and, on CUDA, the
  // thread every call runs on.
  void set_up(const std::string& path, const std::map<std::string, std::string>& metadata) {
    describe(path, metadata);
    if (device_.is_cuda()) device_thread_ = std::make_unique<DeviceThread>();
  }

  void describe(const std::string& path, const std::map<std::string, std::string>& metadata) {
    const RcanConfig& cfg = net_->config();
    info_.path = path;
    info_.backbone = cfg.backbone;
    info_.variant = cfg.variant;
    info_.input_width = static_cast<int>(cfg.input_width);
    info_.input_height = static_cast<int>(cfg.input_height);
    info_.size_multiple = static_cast<int>(net_->backbone->stride());
    info_.uses_group = cfg.uses_group();
    auto prov = metadata.find("cosal.provenance");
    if (prov != metadata.end()) info_.provenance = prov->second;
    for (const auto& t : net_->parameters()) weight_bytes_ += t.numel() * t.element_size();
    for (const auto& t : net_->buffers()) weight_bytes_ += t.numel() * t.element_size();
  }

  static const Features::Impl& features(const Features& frame) {
    if (frame.empty()) throw ModelError("empty Features (encode a frame first)");
    return *frame.impl();
  }

  void check_group(const torch::Tensor& g, const Features::Impl& fi) const {
    if (g.sizes() != fi.f.x.sizes())
      throw ModelError("frame size " + std::to_string(fi.width) + "x" + std::to_string(fi.height) +
                       " does not match the group state's (reset the state when the size changes)");
  }

  static void copy_out(const torch::Tensor& masks, float* mask) {
    auto m = masks.to(torch::kCPU, torch::kFloat).contiguous();
    std::memcpy(mask, m.data_ptr<float>(), static_cast<size_t>(m.numel()) * sizeof(float));
  }

  // Packed RGB8 rows -> [N,3,H,W] floats in [0,1] on the device.
  torch::Tensor to_tensor(const std::vector<RgbView>& frames) const {
    const int w = frames[0].width, h = frames[0].height;
    const int mult = info_.size_multiple;
    for (size_t i = 0; i < frames.size(); ++i) {
      const RgbView& f = frames[i];
      if (!f.data || f.width <= 0 || f.height <= 0 || f.stride < 3 * f.width)
        throw ModelError("frame " + std::to_string(i) + ": invalid RGB view (" +
                         std::to_string(f.width) + "x" + std::to_string(f.height) + ", stride " +
                         std::to_string(f.stride) + ")");
      if (f.width != w || f.height != h)
        throw ModelError("frame " + std::to_string(i) + " is " + std::to_string(f.width) + "x" +
                         std::to_string(f.height) + ", frame 0 is " + std::to_string(w) + "x" +
                         std::to_string(h) + ": frames of one call must share a size");
    }
    if (w % mult != 0 || h % mult != 0)
      throw ModelError("frame size " + std::to_string(w) + "x" + std::to_string(h) +
                       " is not a multiple of " + std::to_string(mult) + " (the " + info_.backbone +
                       " backbone's stride); resize or pad the frames");
    const auto n = static_cast<int64_t>(frames.size());
    // On CUDA the rows are gathered into page-locked memory (LibTorch's
    // caching host allocator, so no allocation per frame once warm) and
    // copied asynchronously.
    auto bytes = torch::empty(
        {n, h, w, 3}, torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(device_.is_cuda()));
    uint8_t* dst = bytes.data_ptr<uint8_t>();
    const size_t row = static_cast<size_t>(w) * 3;
    for (const RgbView& f : frames)
      for (int y = 0; y < h; ++y, dst += row)
        std::memcpy(dst, f.data + static_cast<size_t>(y) * f.stride, row);
    if (!device_.is_cuda()) {
      // NHWC bytes -> a channels-last float view of them, as the CPU backbone
      // runs (mobilenet_v2.cpp); no NCHW copy in between.
      return bytes.permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0f);
    }
    auto on_device = bytes.to(device_, /*non_blocking=*/true);
    const auto type = half_ ? torch::kHalf : torch::kFloat;
    if (!cuda::built()) return on_device.permute({0, 3, 1, 2}).to(type).div_(255.0f).contiguous();
    // Our kernel (model/cuda/prepost_kernels.cu): RGB8 -> planar [0, 1] in
    // the network's precision, on LibTorch's current stream (the default
    // one, which orders it after the copy above).
    auto images = torch::empty({n, 3, h, w}, torch::TensorOptions().device(device_).dtype(type));
    const prepost::Normalisation norm;  // v / 255
    for (int64_t k = 0; k < n; ++k) {
      prepost::Image img;
      img.format = prepost::Format::kRGB;
      img.width = w;
      img.height = h;
      img.plane[0] = on_device.data_ptr<uint8_t>() + k * h * static_cast<int64_t>(row);
      img.stride[0] = static_cast<int>(row);
      cuda::preprocess(img, w, h, norm, images[k].data_ptr(), half_, nullptr);
    }
    return images;
  }

  mutable Rcan net_{nullptr};  // eval mode, no gradients: forward is read-only
  torch::Device device_;
  bool half_ = false;  // parameters and activations in fp16 (CUDA)
  ModelInfo info_;
  size_t weight_bytes_ = 0;
  // Last, so it is joined before the network it runs is destroyed.
  std::unique_ptr<DeviceThread> device_thread_;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::pair<std::string, std::string>, std::weak_ptr<const Model>>& registry() {
  static std::map<std::pair<std::string, std::string>, std::weak_ptr<const Model>> r;
  return r;
}

}  // namespace

std::shared_ptr<const Model> Model::acquire(const std::string& path, const std::string& device,
                                            std::string* warning) {
  const torch::Device dev = parse_device(device, warning);
  std::error_code ec;
  if (path.empty()) throw ModelError("no model file given");
  if (!std::filesystem::is_regular_file(path, ec))
    throw ModelError(path + ": no such file (or not a regular file)");
  const std::string canonical = std::filesystem::canonical(path, ec).string();
  if (ec) throw ModelError(path + ": " + ec.message());

  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& reg = registry();
  const auto key = std::make_pair(canonical, dev.str());
  if (auto existing = reg[key].lock()) return existing;
  std::shared_ptr<const Model> model;
  try {
    model = std::make_shared<RcanModel>(canonical, dev);
  } catch (const ModelError&) {
    throw;
  } catch (const safetensors::FormatError& e) {
    throw ModelError(e.what());  // already "<path>: <problem>"
  } catch (const std::exception& e) {
    throw ModelError(path + ": " + e.what());
  }
  // Drop entries whose models are gone, so the map does not grow forever.
  for (auto it = reg.begin(); it != reg.end();) it = it->second.expired() ? reg.erase(it) : ++it;
  reg[key] = model;
  return model;
}

std::shared_ptr<const Model> view_network(std::shared_ptr<RcanImpl> net, torch::Device device) {
  if (!net) throw ModelError("view_network: no network");
  return std::make_shared<RcanModel>(std::move(net), device);
}

std::string Model::default_path() {
  if (const char* env = std::getenv("COSAL_MODEL"); env && *env) return env;
  // Found from this library's own location, so an installed plugin uses the
  // model of its prefix (wherever the prefix was moved) and a build tree the
  // copy beside its library; never a path baked in at build time.
  Dl_info info{};
  std::filesystem::path dir;
  if (dladdr(reinterpret_cast<void*>(&Model::default_path), &info) && info.dli_fname)
    dir = std::filesystem::path(info.dli_fname).parent_path();
  const std::filesystem::path rel(COSAL_MODEL_FROM_LIBDIR);
  const std::filesystem::path installed = rel.is_absolute() ? rel : dir / rel;
  std::error_code ec;
  if (std::filesystem::is_regular_file(installed, ec)) return installed.lexically_normal().string();
  const std::filesystem::path beside = dir / "default.safetensors";
  if (std::filesystem::is_regular_file(beside, ec)) return beside.string();
  return installed.lexically_normal().string();  // where it should be, for the error
}

void write_random_model(const std::string& path, const std::string& backbone,
                        const std::string& variant, int input_size, uint64_t seed) {
  try {
    RcanConfig cfg;
    cfg.backbone = backbone;
    cfg.variant = variant;
    cfg.input_width = cfg.input_height = input_size;
    torch::manual_seed(seed);
    Rcan net(cfg);
    save_rcan(path, *net,
              {{"cosal.provenance", "random initialisation (write_random_model, seed " +
                                        std::to_string(seed) + "), not trained"}});
  } catch (const std::exception& e) {
    throw ModelError(path + ": cannot write a random model: " + e.what());
  }
}

// glibc returns freed memory to the kernel as soon as an arena's free top
// exceeds the trim threshold, and serves blocks above the mmap threshold with
// fresh mappings; LibTorch frees a frame's activations (megabytes) after
// every frame, so with the defaults frames faulted their working set back in
// page by page. perf on the element (854x480, 1 thread, the NCHW backbone of
// before): 28 % of the samples in the kernel (page faults, clear_page,
// madvise), 13 ms of system time per frame, 1 ms with these settings. With
// today's backbone at the native 224x224: 73 -> 14 minor faults per frame;
// at inference-size 448: 925 -> 34 (sys 5 -> 1 ms per frame); peak RSS +15 MB.
// Fixed thresholds also stop glibc's dynamic ones from drifting.
void tune_malloc_for_inference() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* v :
         {"GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"})
      if (std::getenv(v)) return;
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum for the dynamic threshold
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  });
}

void set_cpu_threads(int threads) {
  static const int initial = torch::get_num_threads();  // LibTorch's own default
  torch::set_num_threads(threads > 0 ? threads : initial);
}

int cpu_threads() { return torch::get_num_threads(); }

int default_cpu_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 1024) return static_cast<int>(n);
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return 1;
}

bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace cosal
