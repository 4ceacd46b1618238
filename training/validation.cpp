#include "validation.h"

#include <sstream>

#include "boundary_f.h"
#include "engine_impl.h"
#include "feature_cache.h"
#include "iou.h"
#include "mae.h"
#include "mask_upscaler.h"
#include "prepared_pair.h"
#include "s_measure.h"
#include "stream_processor.h"

namespace cosal::train {

StreamOptions stream_options(const StreamingOptions& options) {
  StreamOptions o;
  o.mode = StreamOptions::Mode::kStreaming;
  // A window of one folds every frame into G once and never drops one: G
  // persists over the sequence.
  o.window_size = options.window > 0 ? options.window : 1;
  o.refresh_interval = options.window > 0 ? options.refresh : 0;
  return o;
}

Validator::Validator(const Dataset& dataset, int64_t width, int64_t height,
                     StreamingOptions options)
    : width_(width), height_(height), options_(options) {
  for (const auto& g : dataset.groups) {
    Sequence s;
    s.name = g.name;
    for (const auto& smp : g.samples) {
      if (smp.mask.empty()) throw DatasetError(smp.image + ": validation needs a mask");
      LoadedSample ls = load_sample(smp);
      s.frames.push_back(resize(ls.image, static_cast<int>(width), static_cast<int>(height)));
      s.gts.push_back(std::move(ls.mask));
    }
    sequences_.push_back(std::move(s));
  }
}

int64_t Validator::frames() const {
  int64_t n = 0;
  for (const auto& s : sequences_) n += static_cast<int64_t>(s.gts.size());
  return n;
}

ValidationResult Validator::run(RcanImpl& net, const torch::Device& device, bool frozen_backbone) {
  const bool was_training = net.is_training();
  net.eval();
  // Not owned: the view lives only for this call.
  const auto model = view_network(std::shared_ptr<RcanImpl>(&net, [](RcanImpl*) {}), device);
  const StreamOptions so = stream_options(options_);
  ValidationResult r;
  std::vector<float> mask(static_cast<size_t>(width_ * height_));
  MaskUpscaler upscaler;
  Image u8;  // the map at the ground truth's size, reused across frames
  for (auto& seq : sequences_) {
    auto view = [&](size_t t) {
      const Image& img = seq.frames[t];
      return RgbView{img.pixels.data(), img.width, img.height, img.width * 3};
    };
    if (frozen_backbone && seq.features.empty())
      for (size_t t = 0; t < seq.frames.size(); ++t)
        seq.features.push_back(model->encode({view(t)}).front());
    StreamProcessor processor(so);
    SequenceScore sc;
    sc.name = seq.name;
    size_t out = 0;
    auto score_ready = [&]() {
      while (processor.ready()) {
        processor.pop(*model, mask.data());
        const Image& gt = seq.gts[out++];
        if (u8.width != gt.width || u8.height != gt.height) u8 = Image(gt.width, gt.height, 1);
        upscaler.configure(static_cast<int>(width_), static_cast<int>(height_), gt.width,
                           gt.height);
        upscaler.run(mask.data(), u8.pixels.data(), 1, gt.width, 0);
        const auto pair = metrics::prepare(u8.pixels.data(), gt.pixels.data(), gt.width, gt.height);
        sc.s_measure += metrics::s_measure(pair);
        sc.mae += metrics::mae(pair);
        sc.iou += metrics::iou(pair);
        sc.boundary_f += metrics::boundary_f(pair).f;
        ++sc.frames;
      }
    };
    for (size_t t = 0; t < seq.frames.size(); ++t) {
      if (frozen_backbone)
        processor.push(*model, seq.features[t]);
      else
        processor.push(*model, view(t));
      score_ready();
    }
    processor.drain(*model);
    score_ready();
    if (sc.frames > 0) {
      sc.s_measure /= sc.frames;
      sc.mae /= sc.frames;
      sc.iou /= sc.frames;
      sc.boundary_f /= sc.frames;
    }
    r.s_measure += sc.s_measure;
    r.mae += sc.mae;
    r.iou += sc.iou;
    r.boundary_f += sc.boundary_f;
    r.sequences.push_back(sc);
  }
  if (!r.sequences.empty()) {
    const double n = static_cast<double>(r.sequences.size());
    r.s_measure /= n;
    r.mae /= n;
    r.iou /= n;
    r.boundary_f /= n;
  }
  net.train(was_training);
  return r;
}

std::string ValidationResult::to_json() const {
  std::ostringstream os;
  os.precision(4);
  os << std::fixed << "{\"mode\":\"streaming\",\"s_measure\":" << s_measure << ",\"mae\":" << mae
     << ",\"iou\":" << iou << ",\"boundary_f\":" << boundary_f << ",\"sequences\":{";
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& s = sequences[i];
    os << (i ? "," : "") << "\"" << s.name << "\":{\"frames\":" << s.frames
       << ",\"s_measure\":" << s.s_measure << ",\"mae\":" << s.mae << ",\"iou\":" << s.iou
       << ",\"boundary_f\":" << s.boundary_f << "}";
  }
  os << "}}";
  return os.str();
}

std::string ValidationResult::summary() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "Sm %.3f MAE %.3f J %.3f F %.3f", s_measure, mae, iou, boundary_f);
  return buf;
}

}  // namespace cosal::train
