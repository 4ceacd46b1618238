// cosal::cuda without the `cuda` build feature: nothing is available, and
// every call that would need a device says so.
#include "prepost.h"

namespace cosal::cuda {

namespace {
[[noreturn]] void not_built() {
  throw Error("this build has no CUDA kernels (meson setup -Dcuda=enabled with nvcc installed)");
}
}  // namespace

bool built() { return false; }

int device_count(std::string* why) {
  if (why) *why = "built without the cuda feature (nvcc was not found or -Dcuda=disabled)";
  return 0;
}

Stream::Stream() { not_built(); }
Stream::~Stream() = default;
void Stream::synchronize() const { not_built(); }

DeviceBuffer::~DeviceBuffer() = default;
void DeviceBuffer::resize(size_t) { not_built(); }
void DeviceBuffer::upload(const void*, size_t, void*) { not_built(); }
void DeviceBuffer::download(void*, size_t, void*) const { not_built(); }

PinnedBuffer::~PinnedBuffer() = default;
void PinnedBuffer::resize(size_t) { not_built(); }

void preprocess(const prepost::Image&, int, int, const prepost::Normalisation&, void*, bool,
                void*) {
  not_built();
}
void write_mask(const float*, int, int, uint8_t*, int, int, int, int, int, void*) { not_built(); }

}  // namespace cosal::cuda
