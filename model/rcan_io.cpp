#include "rcan_io.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "backbone.h"
#include "safetensors.h"
#include "weights_io.h"

namespace cosal {

namespace {

constexpr const char* kFormat = "rcan-1";

using safetensors::FormatError;

RcanConfig config_of(const safetensors::File& file, const std::string& path) {
  const auto& md = file.metadata();
  auto fmt = md.find("cosal.format");
  if (fmt == md.end())
    throw FormatError(path + ": not an RCAN weights file (no \"cosal.format\" metadata)");
  if (fmt->second != kFormat)
    throw FormatError(path + ": unsupported format \"" + fmt->second + "\" (this build reads " +
                      kFormat + ")");
  auto cfg = md.find("cosal.config");
  if (cfg == md.end()) throw FormatError(path + ": no \"cosal.config\" metadata");
  try {
    return RcanConfig::from_json(cfg->second);
  } catch (const std::invalid_argument& e) {
    throw FormatError(path + ": bad cosal.config: " + e.what());
  }
}

// A config can describe a network far larger than its file: the RCAU's
// spatial FC grows with the square of the input grid (a 4096x4096 native size
// would allocate ~8 GB). Every parameter must come from the file, so a network
// needing more bytes than the file's tensors hold is refused before it is built.
void check_size_against_file(const RcanConfig& cfg, const safetensors::File& file,
                             const std::string& path) {
  const bool spatial =
      cfg.variant != "baseline" && cfg.variant != "convgru" && cfg.variant != "rcau_channel";
  if (!spatial) return;
  uint64_t file_bytes = 0;
  for (const auto& [name, info] : file.tensors()) file_bytes += info.end - info.begin;
  int64_t stride = 0;
  try {
    stride = make_backbone(cfg.backbone)->stride();
  } catch (const std::exception& e) {
    throw FormatError(path + ": config does not describe a valid network: " + e.what());
  }
  const uint64_t cells = static_cast<uint64_t>(cfg.input_width / stride) *
                         static_cast<uint64_t>(cfg.input_height / stride);
  const uint64_t hidden = std::max<uint64_t>(8, cells / 4);
  const uint64_t need = 2 * cells * hidden * 2;  // w1s + w2s, at least 2 bytes a weight
  if (need > file_bytes)
    throw FormatError(path + ": cosal.config (" + std::to_string(cfg.input_width) + "x" +
                      std::to_string(cfg.input_height) + " input) needs at least " +
                      std::to_string(need) + " bytes of RCAU weights but the file holds " +
                      std::to_string(file_bytes));
}

}  // namespace

void save_rcan(const std::string& path, RcanImpl& net,
               const std::map<std::string, std::string>& extra_metadata) {
  auto metadata = extra_metadata;
  metadata["cosal.format"] = kFormat;
  metadata["cosal.config"] = net.config().to_json();
  save_tensors(path, module_state(net), metadata);
}

RcanConfig read_rcan_config(const std::string& path) {
  return config_of(safetensors::File::read(path), path);
}

Rcan load_rcan(const std::string& path, std::map<std::string, std::string>* metadata) {
  const auto file = safetensors::File::read(path);
  const RcanConfig cfg = config_of(file, path);
  check_size_against_file(cfg, file, path);
  Rcan net{nullptr};
  try {
    net = Rcan(cfg);
  } catch (const std::invalid_argument& e) {
    throw FormatError(path + ": config does not describe a valid network: " + e.what());
  }
  const NamedTensors tensors = load_tensors(file);
  // A NaN or infinity in the weights would only show up as blank masks.
  for (const auto& [name, t] : tensors)
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      throw FormatError(path + ": tensor \"" + name + "\" holds NaN or infinite values");
  try {
    load_module_state(*net, tensors, path);
  } catch (const FormatError& e) {
    // Usually a config that does not match the tensors: show the config.
    throw FormatError(std::string(e.what()) + " (network built from cosal.config " + cfg.to_json() +
                      ")");
  }
  if (metadata) *metadata = file.metadata();
  return net;
}

}  // namespace cosal
