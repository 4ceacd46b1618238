// The LibTorch side of engine.h's opaque types, for engine.cpp and for tests
// that compare the engine against the network itself. The element never
// includes this.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "backbone.h"
#include "engine.h"
#include "rcan.h"

namespace cosal {

// One frame's backbone output, batch dimension 1, on the model's device.
struct Features::Impl {
  BackboneFeatures f;
  int width = 0;
  int height = 0;
};

struct GroupState::Impl {
  torch::Tensor g;  // G_n [1,C,h,w]; undefined before the first update
  int64_t steps = 0;
};

// The one parser of device names ("auto", "cpu", "cuda", "cuda:N") for the
// engine, the tools and the trainer. "auto" falls back to the CPU and says
// so in `warning`; an unknown name or an unavailable CUDA device throws
// ModelError naming it.
torch::Device parse_device(const std::string& name, std::string* warning = nullptr);

// A Model over a network in memory, without copying it: the trainer's
// validation runs its network through the same stream processor as the
// element. The caller keeps `net` alive and unchanged (eval mode) while the
// view is used; encode/update/decode run under InferenceMode.
std::shared_ptr<const Model> view_network(std::shared_ptr<RcanImpl> net, torch::Device device);

}  // namespace cosal
