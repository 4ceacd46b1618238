// The training losses of the paper: per-image BCE and the co-perceptual loss.
#pragma once

#include <torch/torch.h>

#include "backbone.h"

namespace cosal {

// BCE with logits, mean over all pixels; gt in [0,1]. With `weights`
// ([N,1,H,W], e.g. boundary_weights) each image's pixels are weighted and
// normalised by its weight sum.
torch::Tensor saliency_loss(const torch::Tensor& logits, const torch::Tensor& gt,
                            const torch::Tensor& weights = {});

// F3Net's pixel weights (Wei et al., AAAI 2020): 1 + weight · |avg_k(g) − g|,
// the difference between the mask and its local mean over a kernel × kernel
// window: large near boundaries and on thin or small parts, 1 inside and far
// outside. Not in the paper; it makes the loss care about shape where plain
// BCE and IoU are dominated by the easy interior of large objects.
torch::Tensor boundary_weights(const torch::Tensor& gt, double weight, int64_t kernel);

// Soft IoU (Jaccard) loss, 1 - Σ p·g / Σ (p + g - p·g) per image, mean over
// images; p = sigmoid(logits). Not in the paper: an image-level term that
// rewards whole-object shape where per-pixel BCE settles for blurry blobs
// (BASNet's hybrid loss uses it the same way). Empty image pairs give 0.
// `weights` as for saliency_loss (F3Net's weighted IoU).
torch::Tensor soft_iou_loss(const torch::Tensor& logits, const torch::Tensor& gt,
                            const torch::Tensor& weights = {});

// L_c(I_n) = 1/(V(N-1)) Σ_{m≠n} ||φ(M_n ⊗ I_n) − φ(G_m ⊗ I_m)||², averaged
// over n and over the φ layers (V = number of elements of the layer's
// activation for one image). Returns 0 for N == 1. φ = phi.perceptual_features,
// frozen (no parameter gradients; gradient flows to masks).
// masks [N,1,H,W] in [0,1], images [N,3,H,W], gts [N,1,H,W].
torch::Tensor co_perceptual_loss(BackboneImpl& phi, const torch::Tensor& masks,
                                 const torch::Tensor& images, const torch::Tensor& gts);

}  // namespace cosal
