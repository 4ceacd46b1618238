// The CUDA kernels of prepost.h. Compiled by nvcc with -fmad=false: the
// per-pixel code is prepost_math.h's, shared with the CPU reference, and no
// fused multiply-add may change its rounding.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "prepost.h"
#include "prepost_math.h"

namespace cosal::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string(what) + ": " + cudaGetErrorString(e));
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

__global__ void preprocess_kernel(prepost::Image img, int out_w, int out_h,
                                  prepost::Normalisation norm, float* out_f, __half* out_h16) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= out_w || y >= out_h) return;
  float rgb[3];
  prepost::detail::resample_pixel(img, x, y, out_w, out_h, rgb);
  const size_t plane = static_cast<size_t>(out_w) * out_h;
  const size_t i = static_cast<size_t>(y) * out_w + x;
  for (int c = 0; c < 3; ++c) {
    const float v = rgb[c] * norm.scale[c] + norm.bias[c];
    if (out_h16)
      out_h16[c * plane + i] = __float2half_rn(v);
    else
      out_f[c * plane + i] = v;
  }
}

__global__ void mask_kernel(const float* mask, int mask_w, int mask_h, uint8_t* dst, int dst_w,
                            int dst_h, int pixel_stride, int row_stride, int threshold) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dst_w || y >= dst_h) return;
  dst[static_cast<ptrdiff_t>(y) * row_stride + static_cast<ptrdiff_t>(x) * pixel_stride] =
      prepost::detail::mask_pixel(mask, mask_w, mask_h, x, y, dst_w, dst_h, threshold);
}

dim3 grid_for(int w, int h, dim3 block) {
  return dim3((static_cast<unsigned>(w) + block.x - 1) / block.x,
              (static_cast<unsigned>(h) + block.y - 1) / block.y);
}

}  // namespace

bool built() { return true; }

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error of a failed driver init
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device present";
  return n;
}

Stream::Stream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  stream_ = s;
}
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(as_stream(stream_));
}
void Stream::synchronize() const {
  check(cudaStreamSynchronize(as_stream(stream_)), "cudaStreamSynchronize");
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}
void DeviceBuffer::resize(size_t bytes) {
  if (bytes <= size_) return;
  if (data_) cudaFree(data_);
  data_ = nullptr;
  size_ = 0;
  check(cudaMalloc(&data_, bytes), "cudaMalloc");
  size_ = bytes;
}
void DeviceBuffer::upload(const void* host, size_t bytes, void* stream) {
  if (bytes > size_) throw Error("DeviceBuffer::upload: more bytes than the buffer holds");
  check(cudaMemcpyAsync(data_, host, bytes, cudaMemcpyHostToDevice, as_stream(stream)),
        "cudaMemcpyAsync (upload)");
}
void DeviceBuffer::download(void* host, size_t bytes, void* stream) const {
  if (bytes > size_) throw Error("DeviceBuffer::download: more bytes than the buffer holds");
  check(cudaMemcpyAsync(host, data_, bytes, cudaMemcpyDeviceToHost, as_stream(stream)),
        "cudaMemcpyAsync (download)");
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}
void PinnedBuffer::resize(size_t bytes) {
  if (bytes <= size_) return;
  if (data_) cudaFreeHost(data_);
  data_ = nullptr;
  size_ = 0;
  check(cudaMallocHost(&data_, bytes), "cudaMallocHost");
  size_ = bytes;
}

void preprocess(const prepost::Image& src, int out_w, int out_h, const prepost::Normalisation& norm,
                void* out, bool half, void* stream) {
  prepost::validate(src);
  if (out_w <= 0 || out_h <= 0 || !out) throw Error("preprocess: output size or buffer");
  const dim3 block(32, 8);
  preprocess_kernel<<<grid_for(out_w, out_h, block), block, 0, as_stream(stream)>>>(
      src, out_w, out_h, norm, half ? nullptr : static_cast<float*>(out),
      half ? static_cast<__half*>(out) : nullptr);
  check(cudaGetLastError(), "preprocess kernel launch");
}

void write_mask(const float* mask, int mask_w, int mask_h, uint8_t* dst, int dst_w, int dst_h,
                int pixel_stride, int row_stride, int threshold, void* stream) {
  if (mask_w <= 0 || mask_h <= 0 || dst_w <= 0 || dst_h <= 0 || !mask || !dst)
    throw Error("write_mask: mask or destination size or buffer");
  const dim3 block(32, 8);
  mask_kernel<<<grid_for(dst_w, dst_h, block), block, 0, as_stream(stream)>>>(
      mask, mask_w, mask_h, dst, dst_w, dst_h, pixel_stride, row_stride, threshold);
  check(cudaGetLastError(), "write_mask kernel launch");
}

}  // namespace cosal::cuda
