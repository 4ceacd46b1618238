// Resumable training checkpoints: network, optimizer, sampler RNG and the
// trainer's bookkeeping in ONE file (a LibTorch archive), written atomically
// (temporary file, fsync, rename), so an interruption at any moment leaves
// either the previous or the new checkpoint, never a torn one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cosal::train {

struct TrainState {
  int64_t step = 0;          // optimizer steps done
  std::string rng;           // the sampler's Rng::state()
  double best_score = -1.0;  // best validation score so far (S-measure)
  int64_t best_step = -1;
  int64_t bad_validations = 0;  // since the best (early stopping)
  double elapsed_s = 0.0;       // training time before this run
  std::string best_metrics;     // JSON of the best validation
  // The weight average's values (weight_average.h); empty without one.
  std::vector<torch::Tensor> averaged;
};

void save_checkpoint(const std::string& path, torch::nn::Module& net,
                     torch::optim::Optimizer& optimizer, const TrainState& state);
// Throws std::runtime_error("<path>: ...") on a missing or corrupt file.
TrainState load_checkpoint(const std::string& path, torch::nn::Module& net,
                           torch::optim::Optimizer& optimizer);

// Writes bytes atomically: <path>.tmp-<pid>, fsync, rename, fsync the folder.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace cosal::train
