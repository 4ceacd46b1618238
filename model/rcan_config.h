// The configuration of one RCAN network: which backbone, which group unit
// (the paper's RCAU or an ablation), and the widths of the heads. Stored as
// JSON in every weights file, so a file describes the network it fits.
#pragma once

#include <cstdint>
#include <string>

namespace cosal {

struct RcanConfig {
  std::string backbone = "mobilenet_v2";  // "mobilenet_v2" | "mobilenet_v2_os8" | "vgg16" | "tiny"
  // "rcau" | "baseline" (SIR only, no group feature) | "convgru"
  // | "rcau_no_reset" | "rcau_spatial" (spatial-only update gate)
  // | "rcau_channel" (channel-only update gate)
  std::string variant = "rcau";
  int64_t sir_channels = 64;
  int64_t decoder_channels = 64;
  // The decoder's context module at the backbone stride (a dilated 3x3 conv
  // and an image-pooling branch, DeepLab's ASPP reduced to two branches).
  // Off in files made before it existed (their config lacks the key).
  bool decoder_context = false;
  // The decoder's 3x3 blocks past its first conv: "dense" (3x3 convs and
  // learned 4x4 deconvolutions; files made before the key existed);
  // "bilinear": the same 3x3 convs, each upsampling stage a fixed bilinear
  // x2 instead of a deconvolution; "separable_stages": the upsampling stages (strides 8 and 4) as
  // depthwise + pointwise convs after a fixed bilinear x2, the blocks at the
  // backbone stride dense; "separable": those too.
  std::string decoder_blocks = "dense";
  // The native (training) size: fixes the grid of the RCAU's spatial
  // attention FC. Inference works at any multiple of the backbone's stride.
  int64_t input_width = 224, input_height = 224;

  bool uses_group() const { return variant != "baseline"; }

  std::string to_json() const;
  // Throws std::invalid_argument naming the problem (bad JSON, unknown
  // backbone or variant, non-positive sizes, unknown keys).
  static RcanConfig from_json(const std::string& json);
  // Throws std::invalid_argument if a field is out of range.
  void validate() const;

  bool operator==(const RcanConfig& o) const {
    return backbone == o.backbone && variant == o.variant && sir_channels == o.sir_channels &&
           decoder_channels == o.decoder_channels && decoder_context == o.decoder_context &&
           decoder_blocks == o.decoder_blocks && input_width == o.input_width &&
           input_height == o.input_height;
  }
  bool operator!=(const RcanConfig& o) const { return !(*this == o); }
};

}  // namespace cosal
