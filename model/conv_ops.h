// Convolutions that take the fast oneDNN (MKL-DNN) kernels on the CPU.
//
// LibTorch picks its "native" im2col + BLAS convolution for batch-1 inputs
// of fewer than 20480 elements and for every transposed convolution. With
// Debian's libtorch that BLAS is the reference netlib one, 20-40x slower than
// oneDNN on the 14x14 maps the RCAU and decoder work on (measured in
// model/README.md). These helpers call oneDNN directly where it applies and
// LibTorch's own dispatch elsewhere (CUDA, other dtypes); results and
// gradients are those of conv2d / conv_transpose2d.
#pragma once

#include <torch/torch.h>

namespace cosal {

// Whether oneDNN's convolution takes `x` with `weight`: a 4-d float CPU
// tensor, LibTorch built with oneDNN and not told to avoid it. The one test
// every direct oneDNN call here and in the backbone makes.
bool onednn_applies(const torch::Tensor& x, const torch::Tensor& weight);

// The module's own conv2d (its padding, stride, dilation and groups).
torch::Tensor conv2d(const torch::nn::Conv2d& conv, const torch::Tensor& x);

// The module's conv_transpose2d for kernel 4, stride 2, padding 1 (the
// decoder's bilinear upsampling): rewritten as a 3x3 convolution to four
// sub-pixel phases and a pixel shuffle, which oneDNN runs fast.
torch::Tensor conv_transpose2d_x2(const torch::nn::ConvTranspose2d& deconv, const torch::Tensor& x);

}  // namespace cosal
