// make_backbone: the backbone factory (see backbone.h).
#include "backbone.h"

#include <stdexcept>

#include "mobilenet_v2.h"
#include "tiny_backbone.h"
#include "vgg16.h"

namespace cosal {

std::shared_ptr<BackboneImpl> make_backbone(const std::string& name) {
  // Only as deep as X (stride 16): the classifier and the stride-32 stage
  // would be 2.95M stored but unused parameters (of 3.49M).
  if (name == "mobilenet_v2") {
    return std::make_shared<MobileNetV2Impl>(/*num_classes=*/0, /*output_stride=*/32,
                                             MobileNetV2Impl::kStride16Block + 1);
  }
  // The same weights with X at stride 8 (DeepLab's atrous trick): a 28x28
  // grid at 224 for finer masks, at about twice the backbone's cost.
  if (name == "mobilenet_v2_os8") {
    return std::make_shared<MobileNetV2Impl>(/*num_classes=*/0, /*output_stride=*/8,
                                             MobileNetV2Impl::kStride16Block + 1);
  }
  if (name == "vgg16") return std::make_shared<VGG16Impl>();
  if (name == "tiny") return std::make_shared<TinyBackboneImpl>();
  throw std::invalid_argument("unknown backbone '" + name +
                              "' (expected mobilenet_v2, mobilenet_v2_os8, vgg16 or tiny)");
}

}  // namespace cosal
