// Pre- and post-processing of video frames for the network, on the CPU (the
// reference) and, when the project is built with the `cuda` feature, as our
// own CUDA kernels (prepost_kernels.cu). Neither LibTorch nor the CUDA
// headers are included here. engine.cpp runs the RGB-to-network step on the
// CUDA path; the element converts frames with GstVideoConverter and scales
// masks with MaskUpscaler (which the mask writer here matches bit for bit,
// tested), so it does not call these yet.
//
// Pre-processing: one pass from a frame in any of the element's input
// formats (packed RGB/BGR/RGBx/BGRx/xRGB/xBGR, I420, NV12) at any size to the
// network's input, planar [3][out_h][out_w] RGB, float or IEEE half, each
// value v in [0, 255] written as v * scale[c] + bias[c] (scale 1/255, bias 0:
// [0, 1], what engine.h's encode feeds the backbone).
//
// Resampling: a box-filtered bilinear. An output pixel covers a span of
// s = src/dst source pixels per axis; it averages n = ceil(s) bilinear
// samples per axis (n = 1 when upscaling) taken at the centres of n equal
// parts of its span, pixel centres aligned (x_src = (x + 0.5) * s - 0.5 for
// n = 1, like torch's align_corners=false and GstVideoConverter), edges
// clamped. YUV is sampled per plane (chroma at half resolution, centred
// siting) and converted to RGB after averaging (BT.601 or BT.709, limited
// range), then clamped to [0, 255].
//
// Post-processing: the mask at the inference size (floats in [0, 1]) scaled
// bilinearly to the frame size and written as bytes at dst + y * row_stride +
// x * pixel_stride (a GRAY8 plane, or the alpha bytes of a packed RGBA frame):
// soft round(255 m), or with threshold > 0 binary 255 where round(255 m) >=
// threshold. Same arithmetic as the element's MaskUpscaler, bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace cosal::prepost {

enum class Format {
  kRGB,
  kBGR,
  kRGBA,  // also RGBx: the fourth byte is ignored
  kBGRA,  // also BGRx
  kARGB,  // also xRGB
  kABGR,  // also xBGR
  kI420,
  kNV12,
};

enum class Matrix { kBT601, kBT709 };  // YUV -> RGB, limited range (16-235 / 16-240)

// A frame in host or device memory (the CUDA functions take device pointers).
struct Image {
  Format format = Format::kRGB;
  int width = 0;
  int height = 0;
  const uint8_t* plane[3] = {nullptr, nullptr, nullptr};  // packed: plane[0] only
  int stride[3] = {0, 0, 0};                              // bytes per row
  Matrix matrix = Matrix::kBT601;
};

struct Normalisation {
  float scale[3] = {1.f / 255.f, 1.f / 255.f, 1.f / 255.f};
  float bias[3] = {0.f, 0.f, 0.f};
};

// Throws std::invalid_argument for an empty size, a missing plane or a stride
// smaller than a row.
void validate(const Image& image);

// Samples per axis of the box-filtered bilinear (see above): ceil(src / dst), at least 1.
int samples(int src, int dst);

// CPU reference of the pre-processing: out holds 3 * out_w * out_h floats.
void preprocess_reference(const Image& src, int out_w, int out_h, const Normalisation& norm,
                          float* out);

// CPU reference of the post-processing.
void write_mask_reference(const float* mask, int mask_w, int mask_h, uint8_t* dst, int dst_w,
                          int dst_h, int pixel_stride, int row_stride, int threshold);

// IEEE 754 binary16, round to nearest even (what the kernels' __float2half_rn does).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace cosal::prepost

namespace cosal::cuda {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether the kernels were compiled in (the `cuda` build feature).
bool built();
// CUDA devices usable by the kernels; 0 without the feature, a driver or a
// device. Never throws; `why` (if given) says what is missing when 0.
int device_count(std::string* why = nullptr);

// A CUDA stream (cudaStream_t behind a void*), created non-blocking.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void* handle() const { return stream_; }
  void synchronize() const;

 private:
  void* stream_ = nullptr;
};

// Device memory, freed with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { resize(bytes); }
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void resize(size_t bytes);  // reallocates only to grow
  void* data() const { return data_; }
  size_t size() const { return size_; }
  // Asynchronous on `stream` (nullptr = the default stream); the host side
  // must stay valid until the stream is synchronised (pinned for a real
  // overlap).
  void upload(const void* host, size_t bytes, void* stream = nullptr);
  void download(void* host, size_t bytes, void* stream = nullptr) const;

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Page-locked host memory, so that copies are truly asynchronous.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) { resize(bytes); }
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void resize(size_t bytes);
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// The kernels; every pointer is device memory. `out` holds 3 * out_w * out_h
// floats, or halves (uint16_t bits) with half = true. Asynchronous on
// `stream`; throw cuda::Error when the launch fails.
void preprocess(const prepost::Image& src, int out_w, int out_h, const prepost::Normalisation& norm,
                void* out, bool half, void* stream = nullptr);
void write_mask(const float* mask, int mask_w, int mask_h, uint8_t* dst, int dst_w, int dst_h,
                int pixel_stride, int row_stride, int threshold, void* stream = nullptr);

}  // namespace cosal::cuda
