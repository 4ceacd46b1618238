// Builds the project's LibTorch modules from the pretrained TFLite files in
// ../shared/weights (training only: the runtime loads safetensors files, so
// nothing the element links reads TFLite).
#pragma once

#include <memory>
#include <string>

#include "deeplab_v3.h"
#include "mobilenet_v2.h"

namespace cosal {

// Builds MobileNetV2 from the TFLite ImageNet classifier (e.g.
// mobilenet_v2_1.0_224_quant.tflite, uint8 or int8, per-tensor or
// per-channel quantisation): weights and biases are dequantised to float, the
// input normalisation comes from the input tensor's quantisation. Throws
// std::runtime_error("<path>: <problem>") when the file is not that network.
std::shared_ptr<MobileNetV2Impl> import_mobilenet_v2_tflite(const std::string& path);

// The MobileNetV2 encoder of either TFLite file in ../shared/weights: the
// ImageNet classifier above, or the encoder of DeepLabV3-MobileNetV2 PASCAL
// (deeplab_v3.h; same blocks 0-12, trained for segmentation). Throws
// tflite::FormatError naming both attempts when the file is neither.
std::shared_ptr<MobileNetV2Impl> import_mobilenet_v2_encoder_tflite(const std::string& path);

// Builds DeepLabV3-MobileNetV2 from the TFLite PASCAL model (uint8/int8,
// per-tensor or per-channel). Throws tflite::FormatError("<path>: ...") when
// the file is not that network.
std::shared_ptr<DeepLabV3Impl> import_deeplabv3_mnv2_tflite(const std::string& path);

}  // namespace cosal
