// One RCAN per safetensors file: every parameter and buffer (backbone
// included) plus the config JSON in the metadata.
#pragma once

#include <map>
#include <string>

#include "rcan.h"

namespace cosal {

// Atomic write; metadata "cosal.config" = config JSON, "cosal.format" =
// "rcan-1", plus extra (e.g. "cosal.provenance").
void save_rcan(const std::string& path, RcanImpl& net,
               const std::map<std::string, std::string>& extra_metadata = {});
// Throws safetensors::FormatError("<path>: <problem>") for truncated/corrupt
// files, missing config, tensors missing / unexpected / of the wrong shape for
// the config.
Rcan load_rcan(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
// Only the config of a file (reads the whole file; throws as load_rcan).
RcanConfig read_rcan_config(const std::string& path);

}  // namespace cosal
