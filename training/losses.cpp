#include "losses.h"

#include <vector>

namespace cosal {

torch::Tensor saliency_loss(const torch::Tensor& logits, const torch::Tensor& gt,
                            const torch::Tensor& weights) {
  if (!weights.defined())
    return torch::binary_cross_entropy_with_logits(logits, gt.to(logits.dtype()));
  const torch::Tensor per_pixel = torch::binary_cross_entropy_with_logits(
      logits, gt.to(logits.dtype()), {}, {}, at::Reduction::None);
  // Per image, normalised by its weights (F3Net's wBCE), then the mean.
  return ((per_pixel * weights).sum({1, 2, 3}) / weights.sum({1, 2, 3})).mean();
}

torch::Tensor boundary_weights(const torch::Tensor& gt, double weight, int64_t kernel) {
  TORCH_CHECK(gt.dim() == 4 && kernel % 2 == 1, "boundary_weights: gt [N,1,H,W], odd kernel");
  torch::NoGradGuard no_grad;
  const torch::Tensor g = gt.to(torch::kFloat32);
  const torch::Tensor local =
      torch::avg_pool2d(g, {kernel, kernel}, {1, 1}, {kernel / 2, kernel / 2},
                        /*ceil_mode=*/false, /*count_include_pad=*/false);
  return 1.0 + weight * (local - g).abs();
}

torch::Tensor soft_iou_loss(const torch::Tensor& logits, const torch::Tensor& gt,
                            const torch::Tensor& weights) {
  TORCH_CHECK(logits.dim() == 4 && logits.sizes() == gt.sizes(),
              "soft_iou_loss: logits and gt must both be [N,1,H,W] of one size");
  const torch::Tensor p = torch::sigmoid(logits);
  const torch::Tensor g = gt.to(logits.dtype());
  auto weighed = [&](const torch::Tensor& t) { return weights.defined() ? t * weights : t; };
  const torch::Tensor inter = weighed(p * g).sum({1, 2, 3});
  const torch::Tensor uni = weighed(p + g).sum({1, 2, 3}) - inter;
  // eps keeps an all-background pair (union 0) at loss 0, not NaN.
  return (1.0 - (inter + 1e-6) / (uni + 1e-6)).mean();
}

namespace {

// Turns off parameter gradients of φ for the loss's lifetime and restores
// them after, so φ may be a network that is itself being trained elsewhere.
class FrozenParameters {
 public:
  explicit FrozenParameters(torch::nn::Module& m) {
    for (auto& p : m.parameters()) {
      if (p.requires_grad()) {
        p.set_requires_grad(false);
        frozen_.push_back(p);
      }
    }
  }
  ~FrozenParameters() {
    for (auto& p : frozen_) p.set_requires_grad(true);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<torch::Tensor> frozen_;
};

}  // namespace

torch::Tensor co_perceptual_loss(BackboneImpl& phi, const torch::Tensor& masks,
                                 const torch::Tensor& images, const torch::Tensor& gts) {
  TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1,
              "co-perceptual loss: masks must be [N,1,H,W]");
  TORCH_CHECK(images.dim() == 4 && images.size(0) == masks.size(0) &&
                  images.size(2) == masks.size(2) && images.size(3) == masks.size(3),
              "co-perceptual loss: images must be [N,3,H,W] matching the masks");
  TORCH_CHECK(gts.sizes() == masks.sizes(), "co-perceptual loss: gts must match the masks");
  const int64_t n_img = masks.size(0);
  auto zero = masks.sum() * 0;  // keeps the graph (and device, dtype) for N == 1
  if (n_img < 2) return zero;

  FrozenParameters frozen(phi);
  const auto pred = phi.perceptual_features(masks * images);
  std::vector<torch::Tensor> target;
  {
    torch::NoGradGuard no_grad;
    target = phi.perceptual_features(gts.to(images.dtype()) * images);
  }
  TORCH_CHECK(!pred.empty() && pred.size() == target.size(),
              "co-perceptual loss: phi gave no perceptual features");

  torch::Tensor total = zero;
  for (size_t l = 0; l < pred.size(); ++l) {
    auto a = pred[l].reshape({n_img, -1});
    auto b = target[l].reshape({n_img, -1});
    const double v = static_cast<double>(a.size(1));
    // Σ_{m≠n} ||a_n − b_m||², one row of differences at a time: N is a
    // small group, and exact differences keep the loss exactly 0 when the
    // masked images agree.
    torch::Tensor layer = zero;
    for (int64_t n = 0; n < n_img; ++n) {
      auto d = (b - a[n]).pow(2).sum(1);  // [N] over m
      layer = layer + (d.sum() - d[n]);
    }
    total = total + layer / (v * (n_img - 1) * n_img);
  }
  return total / static_cast<double>(pred.size());
}

}  // namespace cosal
