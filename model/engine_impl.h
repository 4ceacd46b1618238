// The LibTorch side of engine.h's opaque types, for engine.cpp and for tests
// that compare the engine against the network itself. The element never
// includes this.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "backbone.h"
#include "engine.h"

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

}  // namespace cosal
