// The inference client that the GStreamer element and the tools use. It hides
// LibTorch: nothing here includes <torch/torch.h>, so the element compiles
// against a small header, the way onnxinference's element talks to its
// inference client.
//
// Concepts (names from the paper):
//   Model      - one loaded weights file on one device, immutable after load,
//                shared read-only by every stream and thread.
//   Features   - the backbone output for one frame (X_n plus skips), computed
//                once and cached by the caller for its window.
//   GroupState - the RCAU group feature G, owned by one stream.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace cosal {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Packed 8-bit RGB, rows `stride` bytes apart.
struct RgbView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int stride = 0;
};

struct ModelInfo {
  std::string path;
  std::string backbone;  // "mobilenet_v2", "vgg16"
  std::string variant;   // "rcau", "baseline", "convgru", "rcau_no_reset", ...
  int input_width = 0;   // native training size; any multiple of size_multiple() works
  int input_height = 0;
  int size_multiple = 16;
  bool uses_group = true;  // false for the single-image baseline
  std::string provenance;  // training command / data, from the file's metadata

  // The network input size for a width x height frame: `long_side` on the
  // frame's long side, the short side keeping the aspect ratio, both rounded
  // to size_multiple; long_side <= 0: the native size.
  void inference_size(int long_side, int width, int height, int* w, int* h) const;
};

class Features {
 public:
  Features() = default;
  bool empty() const { return !impl_; }
  // The size of the frame these features were encoded from (0 when empty).
  int width() const;
  int height() const;
  struct Impl;
  explicit Features(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<const Impl>& impl() const { return impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

class GroupState {
 public:
  GroupState();
  ~GroupState();
  GroupState(GroupState&&) noexcept;
  GroupState& operator=(GroupState&&) noexcept;
  GroupState(const GroupState&) = delete;
  GroupState& operator=(const GroupState&) = delete;
  void reset();
  bool empty() const;
  int64_t steps() const;  // RCAU steps since the last reset
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Model {
 public:
  // Loads (or returns the already loaded) model for (canonical path, device).
  // device: "auto" (CUDA if available, else CPU with a warning in `warning`),
  // "cpu", "cuda", "cuda:N". Throws ModelError naming the file and problem.
  static std::shared_ptr<const Model> acquire(const std::string& path,
                                              const std::string& device = "cpu",
                                              std::string* warning = nullptr);
  // Where the installed default model lives ($COSAL_MODEL overrides).
  static std::string default_path();

  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual std::string device() const = 0;  // resolved: "cpu", "cuda:0", ...

  // Backbone on a batch of frames, all of the same size (a multiple of
  // info().size_multiple). Thread-safe.
  virtual std::vector<Features> encode(const std::vector<RgbView>& frames) const = 0;
  // One RCAU step: G_n from G_{n-1} and X_n (G_0 = X_1 when state is empty).
  virtual void update(GroupState& state, const Features& frame) const = 0;
  // reset + update over `window` in order: the group feature of a window.
  virtual void seed(GroupState& state, const std::vector<Features>& window) const = 0;
  // M_n for `frame` against the current G, at the frame's encoded size,
  // values in [0, 1], row-major into `mask` (width*height floats). An empty
  // state decodes against the frame's own features (a group of one).
  virtual void decode(const GroupState& state, const Features& frame, float* mask) const = 0;
  // Whole-group forward, for tools and tests: masks for N frames of one group.
  virtual std::vector<std::vector<float>> forward_group(
      const std::vector<RgbView>& frames) const = 0;
  // Bytes of weights held (for the "instances share weights" check).
  virtual size_t weight_bytes() const = 0;
};

// Writes a randomly initialised model file (for tests and for trying the
// plumbing without trained weights). backbone: "tiny" (a small CNN made for
// fast tests), "mobilenet_v2", "vgg16"; input_size: the native square size.
void write_random_model(const std::string& path, const std::string& backbone = "tiny",
                        const std::string& variant = "rcau", int input_size = 64,
                        uint64_t seed = 0);

// Process-wide settings: the library never changes them by itself; an
// application (or the element, for a property the user set) chooses them.
//
// Intra-op threads of LibTorch's CPU kernels for the calling thread, and the
// default of threads LibTorch starts later (LibTorch keeps the count per
// thread once a thread has run a kernel); 0 = LibTorch's own default.
void set_cpu_threads(int threads);
int cpu_threads();
// The intra-op thread count a stream uses unless told otherwise: a positive
// $OMP_NUM_THREADS, else the CPUs this process may run on (its affinity
// mask). LibTorch's own default can be 1 in a new thread (it counts
// physical cores through cpuinfo, and a thread started before any
// set_num_threads call gets it), which leaves the other cores idle.
int default_cpu_threads();
// glibc malloc thresholds that keep a frame's freed activations mapped
// instead of returning them to the kernel after every frame (measured in
// engine.cpp). Left alone when the user tuned malloc (MALLOC_*_,
// GLIBC_TUNABLES). Idempotent.
void tune_malloc_for_inference();
bool cuda_available();

}  // namespace cosal
