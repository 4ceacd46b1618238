// The decoder: [S_n, G] at the backbone's stride -> logits at input size.
// A 3x3 conv over the concatenation (against the aliasing of the following
// upsampling), 3x3 convs and bilinear-initialised ConvTranspose2d (stride 2,
// kernel 4) stages that merge the backbone's finer skips through 1x1
// projections, a final 3x3 logits conv and a bilinear resize to the input.
// Cheaper variants (RcanConfig::decoder_blocks) upsample with a fixed
// bilinear x2 instead of the deconvolutions, and may make the 3x3 blocks
// separable: a depthwise 3x3 conv and a pointwise 1x1 conv.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace cosal {

struct DecoderOptions {
  int64_t sir_channels = 64;
  int64_t group_channels = 96;  // 0: no group input (the baseline)
  int64_t channels = 64;        // width at the backbone stride; halves per stage (>= 8)
  int64_t stride = 16;          // of S_n and G
  // Context at that stride before upsampling: x + ReLU(3x3 conv, dilation
  // 3) + ReLU(1x1 conv of the global mean). Large objects need it: two 3x3
  // convs see only 5x5 cells (80 px at 224), less than a close-up car.
  bool context = false;
  // RcanConfig::decoder_blocks: "bilinear" sets bilinear_stages,
  // "separable_stages" both stage flags, "separable" all three.
  bool bilinear_stages = false;        // upsample by a fixed bilinear x2, not a deconvolution
  bool separable_stages = false;       // separable blocks at strides 8 and 4
  bool separable_context = false;      // conv_mid and the dilated context conv
  std::vector<int64_t> skip_channels;  // finest first, as BackboneFeatures::skips
  std::vector<int64_t> skip_strides;
};

// A depthwise 3x3 conv (dilated by `dilation`) followed by a pointwise 1x1
// conv, no activation between: a 3x3 conv's receptive field for ~1/9 of its
// multiply-adds at these widths.
class SeparableConvImpl : public torch::nn::Module {
 public:
  SeparableConvImpl(int64_t in, int64_t out, int64_t dilation = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d depthwise{nullptr}, pointwise{nullptr};
};
TORCH_MODULE(SeparableConv);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const DecoderOptions& options);
  // s: [N,sir,h,w]; g: [N,C,h,w] (ignored without group input); skips as the
  // backbone gives them. Returns logits [N,1,height,width].
  torch::Tensor forward(const torch::Tensor& s, const torch::Tensor& g,
                        const std::vector<torch::Tensor>& skips, int64_t height, int64_t width);
  const DecoderOptions& options() const { return options_; }
  // The stride of the logits conv (the finest skip's, or stride / 4).
  int64_t output_stride() const { return output_stride_; }

  // Fills a ConvTranspose2d's weight with bilinear interpolation kernels on
  // the channel diagonal (zero elsewhere) and its bias with zeros.
  static void init_bilinear(torch::nn::ConvTranspose2d& deconv);

  // One 3x3 block: a dense conv, or a separable one (the other is null).
  struct Block {
    torch::nn::Conv2d dense{nullptr};
    SeparableConv separable{nullptr};
    torch::Tensor forward(const torch::Tensor& x) const;
  };

  torch::nn::Conv2d conv_in{nullptr};  // 3x3 over [S, G], dense in every variant
  Block conv_mid;
  Block context_dilated;  // only with options.context
  torch::nn::Conv2d context_pool{nullptr};
  struct Stage {
    torch::nn::ConvTranspose2d up{nullptr};  // null with bilinear_stages (bilinear x2)
    torch::nn::Conv2d skip_proj{nullptr};    // null where no skip has this stride
    int64_t skip_index = -1;
    Block conv;
  };
  std::vector<Stage> stages;
  torch::nn::Conv2d logits{nullptr};

 private:
  Block block(const std::string& name, bool separable, int64_t in, int64_t out,
              int64_t dilation = 1);

  DecoderOptions options_;
  int64_t output_stride_ = 4;
};
TORCH_MODULE(Decoder);

}  // namespace cosal
