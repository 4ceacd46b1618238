#include "feature_cache.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "checkpoint.h"

namespace cosal::train {

torch::Tensor to_tensor(const Image& img) {
  auto t = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()),
                            {img.height, img.width, img.channels}, torch::kUInt8);
  // clone, not contiguous(): for one channel the permuted view is already
  // contiguous and would still point into `img`.
  return t.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

torch::Tensor to_float_batch(const std::vector<const Image*>& images) {
  std::vector<torch::Tensor> ts;
  ts.reserve(images.size());
  for (const Image* i : images) ts.push_back(to_tensor(*i));
  return torch::stack(ts).to(torch::kFloat32).div_(255.0);
}

int64_t FeatureCache::add(const Image& rgb, const Image& mask) {
  if (rgb.channels != 3 || mask.channels != 1 || rgb.width != mask.width ||
      rgb.height != mask.height)
    throw std::invalid_argument(
        "feature cache: need an RGB image and a 1-channel mask of one size");
  if (images_.empty()) {
    width_ = rgb.width;
    height_ = rgb.height;
  } else if (rgb.width != width_ || rgb.height != height_) {
    throw std::invalid_argument("feature cache: image is " + std::to_string(rgb.width) + "x" +
                                std::to_string(rgb.height) + ", the pool is " +
                                std::to_string(width_) + "x" + std::to_string(height_));
  }
  images_.push_back(to_tensor(rgb));
  masks_.push_back(to_tensor(mask));
  return size() - 1;
}

int64_t FeatureCache::add_mirrored(int64_t i) {
  if (i < 0 || i >= size()) throw std::out_of_range("feature cache: no item " + std::to_string(i));
  if (!x_.empty()) throw std::logic_error("feature cache: add items before encode()");
  const size_t k = static_cast<size_t>(i);
  images_.push_back(images_[k].flip({2}).contiguous());
  masks_.push_back(masks_[k].flip({2}).contiguous());
  return size() - 1;
}

void FeatureCache::encode(BackboneImpl& backbone, int64_t batch_size,
                          const std::function<void(int64_t, int64_t)>& progress) {
  torch::NoGradGuard no_grad;
  const bool was_training = backbone.is_training();
  backbone.eval();
  const auto device = backbone.parameters().empty() ? torch::Device(torch::kCPU)
                                                    : backbone.parameters().front().device();
  for (int64_t b = static_cast<int64_t>(x_.size()); b < size(); b += batch_size) {
    const int64_t e = std::min(size(), b + batch_size);
    std::vector<int64_t> idx;
    for (int64_t i = b; i < e; ++i) idx.push_back(i);
    const BackboneFeatures f = backbone.forward(images(idx, device));
    for (int64_t i = 0; i < e - b; ++i) {
      x_.push_back(f.x[i].to(torch::kCPU, torch::kHalf).contiguous());
      std::vector<torch::Tensor> s;
      for (const auto& k : f.skips) s.push_back(k[i].to(torch::kCPU, torch::kHalf).contiguous());
      skips_.push_back(std::move(s));
    }
    if (progress) progress(e, size());
  }
  backbone.train(was_training);
  backbone_sums_ = backbone_sums(backbone);
}

BackboneFeatures FeatureCache::features(const std::vector<int64_t>& idx,
                                        const torch::Device& device) const {
  if (!encoded()) throw std::logic_error("feature cache: features not computed");
  BackboneFeatures f;
  std::vector<torch::Tensor> xs;
  for (int64_t i : idx) xs.push_back(x_.at(i));
  f.x = torch::stack(xs).to(device, torch::kFloat32);
  for (size_t k = 0; k < skips_.front().size(); ++k) {
    std::vector<torch::Tensor> ss;
    for (int64_t i : idx) ss.push_back(skips_.at(i)[k]);
    f.skips.push_back(torch::stack(ss).to(device, torch::kFloat32));
  }
  return f;
}

torch::Tensor FeatureCache::images(const std::vector<int64_t>& idx,
                                   const torch::Device& device) const {
  std::vector<torch::Tensor> ts;
  for (int64_t i : idx) ts.push_back(images_.at(i));
  return torch::stack(ts).to(device, torch::kFloat32).div_(255.0);
}

torch::Tensor FeatureCache::masks(const std::vector<int64_t>& idx,
                                  const torch::Device& device) const {
  std::vector<torch::Tensor> ts;
  for (int64_t i : idx) ts.push_back(masks_.at(i));
  return torch::stack(ts).to(device, torch::kFloat32).div_(255.0);
}

torch::Tensor FeatureCache::backbone_sums(const BackboneImpl& backbone) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sums;
  for (const auto& t : backbone.parameters())
    sums.push_back(t.to(torch::kCPU, torch::kDouble).sum());
  for (const auto& t : backbone.buffers()) sums.push_back(t.to(torch::kCPU, torch::kDouble).sum());
  return sums.empty() ? torch::zeros({0}, torch::kDouble) : torch::stack(sums);
}

namespace {
torch::Tensor image_sums(const std::vector<torch::Tensor>& images) {
  std::vector<torch::Tensor> sums;
  for (const auto& t : images) sums.push_back(t.sum(torch::kInt64));
  return torch::stack(sums);
}
}  // namespace

void FeatureCache::save_features(const std::string& path) const {
  if (!encoded()) throw std::logic_error("feature cache: features not computed");
  torch::serialize::OutputArchive a;
  a.write("image_sums", image_sums(images_));
  a.write("backbone_sums", backbone_sums_);
  a.write("x", torch::stack(x_));
  for (size_t k = 0; k < skips_.front().size(); ++k) {
    std::vector<torch::Tensor> s;
    for (const auto& v : skips_) s.push_back(v[k]);
    a.write("skip" + std::to_string(k), torch::stack(s));
  }
  std::ostringstream bytes;
  a.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

bool FeatureCache::load_features(const std::string& path, const BackboneImpl& backbone,
                                 std::string* why) {
  auto fail = [&](const std::string& w) {
    if (why) *why = path + ": " + w;
    return false;
  };
  if (!std::filesystem::exists(path)) return fail("not there");
  torch::serialize::InputArchive a;
  torch::Tensor sums, weights, x;
  std::vector<torch::Tensor> skips;
  try {
    a.load_from(path);
    a.read("image_sums", sums);
    if (!a.try_read("backbone_sums", weights)) return fail("made by an unknown backbone");
    a.read("x", x);
    for (int k = 0;; ++k) {
      torch::Tensor t;
      if (!a.try_read("skip" + std::to_string(k), t)) break;
      skips.push_back(t);
    }
  } catch (const c10::Error& e) {
    return fail(std::string("unreadable (") + e.what_without_backtrace() + ")");
  }
  if (sums.dim() != 1 || sums.size(0) != size() || x.dim() != 4 || x.size(0) != size())
    return fail("made for a pool of another size");
  for (const auto& t : skips)
    if (t.dim() != 4 || t.size(0) != size()) return fail("inconsistent skip tensors");
  if (!torch::equal(sums, image_sums(images_))) return fail("made for other images");
  const torch::Tensor mine = backbone_sums(backbone);
  if (!weights.sizes().equals(mine.sizes()) || !torch::equal(weights, mine))
    return fail("made by another backbone or other backbone weights");
  backbone_sums_ = mine;
  x_.clear();
  skips_.clear();
  for (int64_t i = 0; i < size(); ++i) {
    x_.push_back(x[i].to(torch::kHalf).contiguous());
    std::vector<torch::Tensor> s;
    for (const auto& t : skips) s.push_back(t[i].to(torch::kHalf).contiguous());
    skips_.push_back(std::move(s));
  }
  return true;
}

size_t FeatureCache::bytes() const {
  size_t n = 0;
  auto add = [&](const torch::Tensor& t) { n += t.numel() * t.element_size(); };
  for (const auto& t : images_) add(t);
  for (const auto& t : masks_) add(t);
  for (const auto& t : x_) add(t);
  for (const auto& s : skips_)
    for (const auto& t : s) add(t);
  return n;
}

}  // namespace cosal::train
