#include "rcan_io.h"

#include <stdexcept>

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
