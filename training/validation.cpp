#include "validation.h"

#include <deque>
#include <sstream>

#include "feature_cache.h"
#include "iou.h"
#include "mae.h"
#include "prepared_pair.h"
#include "s_measure.h"

namespace cosal::train {

namespace {

BackboneFeatures slice(const BackboneFeatures& f, int64_t t) {
  BackboneFeatures o;
  o.x = f.x.narrow(0, t, 1);
  for (const auto& s : f.skips) o.skips.push_back(s.narrow(0, t, 1));
  return o;
}

BackboneFeatures to_device(const BackboneFeatures& f, const torch::Device& d) {
  BackboneFeatures o;
  o.x = f.x.to(d);
  for (const auto& s : f.skips) o.skips.push_back(s.to(d));
  return o;
}

}  // namespace

torch::Tensor streaming_masks(RcanImpl& net, const BackboneFeatures& f, int64_t height,
                              int64_t width, const StreamingOptions& options) {
  const int64_t T = f.x.size(0);
  std::vector<torch::Tensor> out;
  std::deque<torch::Tensor> window;
  torch::Tensor g;
  for (int64_t t = 0; t < T; ++t) {
    const BackboneFeatures ft = slice(f, t);
    if (options.window > 0) {
      window.push_back(ft.x);
      if (static_cast<int>(window.size()) > options.window) window.pop_front();
    }
    if (options.window > 0 && options.refresh > 0 && t > 0 && t % options.refresh == 0) {
      g = torch::Tensor();
      for (const auto& x : window) g = net.group_step(g, x);
    } else {
      g = net.group_step(g, ft.x);
    }
    out.push_back(torch::sigmoid(net.decode(ft, g, height, width)));
  }
  return torch::cat(out);
}

Validator::Validator(const Dataset& dataset, int64_t width, int64_t height,
                     StreamingOptions options)
    : width_(width), height_(height), options_(options) {
  for (const auto& g : dataset.groups) {
    Sequence s;
    s.name = g.name;
    std::vector<torch::Tensor> imgs;
    for (const auto& smp : g.samples) {
      if (smp.mask.empty()) throw DatasetError(smp.image + ": validation needs a mask");
      LoadedSample ls = load_sample(smp);
      imgs.push_back(
          to_tensor(resize(ls.image, static_cast<int>(width), static_cast<int>(height))));
      s.gts.push_back(std::move(ls.mask));
    }
    s.images = torch::stack(imgs);
    sequences_.push_back(std::move(s));
  }
}

int64_t Validator::frames() const {
  int64_t n = 0;
  for (const auto& s : sequences_) n += static_cast<int64_t>(s.gts.size());
  return n;
}

ValidationResult Validator::run(RcanImpl& net, const torch::Device& device, bool frozen_backbone) {
  torch::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  ValidationResult r;
  for (auto& seq : sequences_) {
    BackboneFeatures f;
    if (frozen_backbone && seq.features.x.defined()) {
      f = to_device(seq.features, device);
    } else {
      // Encode in chunks: bounded memory for long sequences.
      std::vector<torch::Tensor> xs;
      std::vector<std::vector<torch::Tensor>> ss;
      for (int64_t b = 0; b < seq.images.size(0); b += 16) {
        const auto chunk = seq.images.narrow(0, b, std::min<int64_t>(16, seq.images.size(0) - b));
        const auto fc = net.encode(chunk.to(device, torch::kFloat32).div(255.0));
        xs.push_back(fc.x);
        if (ss.empty()) ss.resize(fc.skips.size());
        for (size_t k = 0; k < fc.skips.size(); ++k) ss[k].push_back(fc.skips[k]);
      }
      f.x = torch::cat(xs);
      for (auto& s : ss) f.skips.push_back(torch::cat(s));
      if (frozen_backbone) seq.features = to_device(f, torch::kCPU);
    }
    const torch::Tensor masks = streaming_masks(net, f, height_, width_, options_);
    SequenceScore sc;
    sc.name = seq.name;
    for (size_t t = 0; t < seq.gts.size(); ++t) {
      const Image& gt = seq.gts[t];
      const auto up =
          torch::nn::functional::interpolate(masks.narrow(0, static_cast<int64_t>(t), 1),
                                             torch::nn::functional::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{gt.height, gt.width})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
      const auto u8 =
          up.mul(255.0).round_().clamp_(0, 255).to(torch::kCPU, torch::kUInt8).contiguous();
      const auto pair =
          metrics::prepare(u8.data_ptr<uint8_t>(), gt.pixels.data(), gt.width, gt.height);
      sc.s_measure += metrics::s_measure(pair);
      sc.mae += metrics::mae(pair);
      sc.iou += metrics::iou(pair);
      ++sc.frames;
    }
    if (sc.frames > 0) {
      sc.s_measure /= sc.frames;
      sc.mae /= sc.frames;
      sc.iou /= sc.frames;
    }
    r.s_measure += sc.s_measure;
    r.mae += sc.mae;
    r.iou += sc.iou;
    r.sequences.push_back(sc);
  }
  if (!r.sequences.empty()) {
    const double n = static_cast<double>(r.sequences.size());
    r.s_measure /= n;
    r.mae /= n;
    r.iou /= n;
  }
  net.train(was_training);
  return r;
}

std::string ValidationResult::to_json() const {
  std::ostringstream os;
  os.precision(4);
  os << std::fixed << "{\"mode\":\"streaming\",\"s_measure\":" << s_measure << ",\"mae\":" << mae
     << ",\"iou\":" << iou << ",\"sequences\":{";
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& s = sequences[i];
    os << (i ? "," : "") << "\"" << s.name << "\":{\"frames\":" << s.frames
       << ",\"s_measure\":" << s.s_measure << ",\"mae\":" << s.mae << ",\"iou\":" << s.iou << "}";
  }
  os << "}}";
  return os.str();
}

std::string ValidationResult::summary() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "Sm %.3f MAE %.3f IoU %.3f", s_measure, mae, iou);
  return buf;
}

}  // namespace cosal::train
