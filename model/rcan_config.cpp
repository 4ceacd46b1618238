#include "rcan_config.h"

#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace cosal {

namespace {

const std::set<std::string>& known_backbones() {
  static const std::set<std::string> names = {"mobilenet_v2", "mobilenet_v2_os8", "vgg16", "tiny"};
  return names;
}

const std::set<std::string>& known_variants() {
  static const std::set<std::string> names = {"rcau",          "baseline",     "convgru",
                                              "rcau_no_reset", "rcau_spatial", "rcau_channel"};
  return names;
}

const std::set<std::string>& known_decoder_blocks() {
  static const std::set<std::string> names = {"dense", "bilinear", "separable", "separable_stages"};
  return names;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void RcanConfig::validate() const {
  if (!known_backbones().count(backbone))
    throw std::invalid_argument("unknown backbone \"" + backbone +
                                "\" (known: " + join(known_backbones()) + ")");
  if (!known_variants().count(variant))
    throw std::invalid_argument("unknown variant \"" + variant +
                                "\" (known: " + join(known_variants()) + ")");
  // Upper bounds keep a hostile file from asking for gigabytes of weights.
  auto check = [](const char* name, int64_t v, int64_t hi) {
    if (v <= 0 || v > hi)
      throw std::invalid_argument(std::string(name) + " = " + std::to_string(v) +
                                  " is out of range (1.." + std::to_string(hi) + ")");
  };
  if (!known_decoder_blocks().count(decoder_blocks))
    throw std::invalid_argument("unknown decoder_blocks \"" + decoder_blocks +
                                "\" (known: " + join(known_decoder_blocks()) + ")");
  check("sir_channels", sir_channels, 1024);
  check("decoder_channels", decoder_channels, 1024);
  check("input_width", input_width, 4096);
  check("input_height", input_height, 4096);
}

std::string RcanConfig::to_json() const {
  nlohmann::ordered_json j;
  j["backbone"] = backbone;
  j["variant"] = variant;
  j["sir_channels"] = sir_channels;
  j["decoder_channels"] = decoder_channels;
  if (decoder_context) j["decoder_context"] = true;  // absent = false, as older files
  if (decoder_blocks != "dense") j["decoder_blocks"] = decoder_blocks;
  j["input_width"] = input_width;
  j["input_height"] = input_height;
  return j.dump();
}

RcanConfig RcanConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("config is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("config JSON is not an object");
  RcanConfig cfg;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    auto want_string = [&](std::string& out) {
      if (!v.is_string())
        throw std::invalid_argument("config key \"" + key + "\" must be a string");
      out = v.get<std::string>();
    };
    auto want_int = [&](int64_t& out) {
      if (!v.is_number_integer())
        throw std::invalid_argument("config key \"" + key + "\" must be an integer");
      out = v.get<int64_t>();
    };
    auto want_bool = [&](bool& out) {
      if (!v.is_boolean())
        throw std::invalid_argument("config key \"" + key + "\" must be a boolean");
      out = v.get<bool>();
    };
    if (key == "backbone")
      want_string(cfg.backbone);
    else if (key == "variant")
      want_string(cfg.variant);
    else if (key == "sir_channels")
      want_int(cfg.sir_channels);
    else if (key == "decoder_channels")
      want_int(cfg.decoder_channels);
    else if (key == "decoder_context")
      want_bool(cfg.decoder_context);
    else if (key == "decoder_blocks")
      want_string(cfg.decoder_blocks);
    else if (key == "input_width")
      want_int(cfg.input_width);
    else if (key == "input_height")
      want_int(cfg.input_height);
    else
      // A key this version does not know would be silently ignored otherwise,
      // and the network built would not be the one the file was trained as.
      throw std::invalid_argument("unknown config key \"" + key + "\"");
  }
  cfg.validate();
  return cfg;
}

}  // namespace cosal
