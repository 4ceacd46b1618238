// torch::Tensor <-> safetensors, and torch::nn::Module state <-> file.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "safetensors.h"

namespace cosal {

using NamedTensors = std::map<std::string, torch::Tensor>;

// Contiguous CPU copies of the tensors go into the file (any device in).
void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata);
NamedTensors load_tensors(const safetensors::File& file);

// Every parameter and buffer of `module` by its dotted name.
NamedTensors module_state(const torch::nn::Module& module);
// Copies tensors into `module`'s parameters and buffers. Throws
// safetensors::FormatError("<origin>: ...") naming the first missing tensor or
// shape mismatch; tensors in the file that the module lacks are an error too
// unless `allow_unused`.
void load_module_state(torch::nn::Module& module, const NamedTensors& tensors,
                       const std::string& origin, const std::string& prefix = "",
                       bool allow_unused = false);

}  // namespace cosal
