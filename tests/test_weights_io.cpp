// torch::Tensor <-> safetensors and module state loading: exact round trips
// and errors that name the offending tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <torch/torch.h>

#include "rcan_io.h"
#include "weights_io.h"

namespace {

namespace nn = torch::nn;
using cosal::NamedTensors;
using cosal::safetensors::FormatError;

std::string temp_path(const std::string& name) { return ::testing::TempDir() + name; }

// Parameters (conv, batch norm) and buffers (running stats, an int64 counter).
nn::Sequential make_net() {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, 4, 3)), nn::BatchNorm2d(4),
                        nn::Conv2d(nn::Conv2dOptions(4, 2, 1).bias(false)));
}

void randomize(nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& t : m.parameters()) t.normal_();
  for (auto& b : m.buffers()) {
    if (b.is_floating_point())
      b.uniform_(0.5, 2.0);
    else
      b.fill_(12345);
  }
}

void expect_same_state(const nn::Module& a, const nn::Module& b) {
  const NamedTensors sa = cosal::module_state(a), sb = cosal::module_state(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [name, t] : sa) {
    ASSERT_TRUE(sb.count(name)) << name;
    EXPECT_EQ(t.scalar_type(), sb.at(name).scalar_type()) << name;
    EXPECT_TRUE(torch::equal(t, sb.at(name))) << name;
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(WeightsIo, ModuleStateNamesParametersAndBuffers) {
  auto net = make_net();
  const NamedTensors s = cosal::module_state(*net);
  for (const char* name : {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                           "1.running_var", "1.num_batches_tracked", "2.weight"}) {
    EXPECT_TRUE(s.count(name)) << name;
  }
  EXPECT_EQ(s.size(), 8u);
}

class RoundTrip : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(RoundTrip, ModuleStateIsBitExact) {
  torch::manual_seed(1);
  auto a = make_net();
  auto b = make_net();
  a->to(GetParam());
  b->to(GetParam());
  randomize(*a);
  const std::string path = temp_path("state.safetensors");
  cosal::save_tensors(path, cosal::module_state(*a), {{"what", "test"}});
  const auto file = cosal::safetensors::File::read(path);
  EXPECT_EQ(file.metadata().at("what"), "test");
  const NamedTensors loaded = cosal::load_tensors(file);
  cosal::load_module_state(*b, loaded, path);
  expect_same_state(*a, *b);
  // The file stores the module's own dtype.
  EXPECT_EQ(loaded.at("0.weight").scalar_type(), GetParam());
  // (LibTorch's Module::to(dtype) converts integer buffers too, unlike Python.)
  EXPECT_EQ(loaded.at("1.num_batches_tracked").scalar_type(),
            cosal::module_state(*a).at("1.num_batches_tracked").scalar_type());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RoundTrip, ::testing::Values(torch::kFloat32, torch::kFloat16));

TEST(WeightsIo, EveryDtypeRoundTrips) {
  NamedTensors in;
  in["f32"] = torch::randn({2, 3});
  in["f16"] = torch::randn({3}).to(torch::kFloat16);
  in["bf16"] = torch::randn({3}).to(torch::kBFloat16);
  in["f64"] = torch::randn({2}, torch::kFloat64);
  in["i64"] = torch::tensor({INT64_MIN, int64_t{0}, INT64_MAX});
  in["i32"] = torch::tensor({-7, 8}, torch::kInt32);
  in["i16"] = torch::tensor({-7, 8}, torch::kInt16);
  in["i8"] = torch::tensor({-128, 127}, torch::kInt8);
  in["u8"] = torch::tensor({0, 255}, torch::kUInt8);
  in["bool"] = torch::tensor({true, false});
  in["scalar"] = torch::tensor(3.5f);
  in["empty"] = torch::zeros({0, 4});
  in["strided"] = torch::arange(12, torch::kFloat32).view({3, 4}).t();  // non-contiguous
  const std::string path = temp_path("dtypes.safetensors");
  cosal::save_tensors(path, in, {});
  const NamedTensors out = cosal::load_tensors(cosal::safetensors::File::read(path));
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    EXPECT_EQ(out.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(out.at(name).sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(out.at(name), t)) << name;
  }
  EXPECT_THROW(cosal::save_tensors(path, {{"c", torch::zeros({2}, torch::kComplexFloat)}}, {}),
               FormatError);
}

TEST(WeightsIo, MissingTensorIsNamed) {
  auto net = make_net();
  NamedTensors s = cosal::module_state(*net);
  s.erase("1.running_var");
  const std::string msg = error_of([&] { cosal::load_module_state(*net, s, "f.safetensors"); });
  EXPECT_EQ(msg.rfind("f.safetensors: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'1.running_var'"), std::string::npos) << msg;
}

TEST(WeightsIo, UnexpectedTensorIsNamedUnlessAllowed) {
  auto net = make_net();
  NamedTensors s = cosal::module_state(*net);
  s["3.weight"] = torch::zeros({1});
  const std::string msg = error_of([&] { cosal::load_module_state(*net, s, "f.safetensors"); });
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'3.weight'"), std::string::npos) << msg;
  EXPECT_NO_THROW(cosal::load_module_state(*net, s, "f.safetensors", "", /*allow_unused=*/true));
}

TEST(WeightsIo, ShapeAndDtypeMismatchesAreNamedAndLeaveTheModuleUntouched) {
  torch::manual_seed(2);
  auto net = make_net();
  auto before = make_net();
  {
    torch::NoGradGuard g;
    for (auto& [name, t] : cosal::module_state(*before))
      t.copy_(cosal::module_state(*net).at(name));
  }
  NamedTensors s = cosal::module_state(*make_net());
  for (auto& [name, t] : s) t = t.clone().fill_(1);
  s["0.bias"] = torch::zeros({5});
  std::string msg = error_of([&] { cosal::load_module_state(*net, s, "f.safetensors"); });
  EXPECT_NE(msg.find("'0.bias'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  expect_same_state(*before, *net);

  s["0.bias"] = torch::zeros({4}, torch::kFloat64);
  msg = error_of([&] { cosal::load_module_state(*net, s, "f.safetensors"); });
  EXPECT_NE(msg.find("'0.bias'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dtype"), std::string::npos) << msg;
  expect_same_state(*before, *net);
}

TEST(WeightsIo, PrefixSelectsASubmoduleState) {
  torch::manual_seed(3);
  auto a = make_net();
  randomize(*a);
  NamedTensors file;
  for (const auto& [name, t] : cosal::module_state(*a)) file["backbone." + name] = t;
  file["decoder.weight"] = torch::zeros({1});  // another module's tensor: not "unexpected"
  auto b = make_net();
  cosal::load_module_state(*b, file, "f.safetensors", "backbone.");
  expect_same_state(*a, *b);
  file["backbone.extra"] = torch::zeros({1});
  const std::string msg =
      error_of([&] { cosal::load_module_state(*b, file, "f.safetensors", "backbone."); });
  EXPECT_NE(msg.find("'backbone.extra'"), std::string::npos) << msg;
}

// The whole RCAN loader (safetensors, cosal.config, network size, tensor
// names, shapes and dtypes, finiteness) on 3,000 damaged copies of a tiny
// model file written to disk: each one loads or throws a FormatError that
// starts with the file's path; never a crash, another exception or a huge
// allocation. (test_safetensors mutates the parser alone 9,000 more times.)
TEST(WeightsIo, RcanLoaderSurvivesMutatedAndTruncatedFiles) {
  cosal::RcanConfig cfg;
  cfg.backbone = "tiny";
  cfg.sir_channels = 8;
  cfg.decoder_channels = 8;
  cfg.input_width = cfg.input_height = 64;
  torch::manual_seed(5);
  cosal::Rcan net(cfg);
  const std::string good_path = temp_path("rcan_good.safetensors");
  cosal::save_rcan(good_path, *net);
  ASSERT_NO_THROW(cosal::load_rcan(good_path));
  std::ifstream in(good_path, std::ios::binary);
  const std::vector<uint8_t> good(std::istreambuf_iterator<char>(in), {});
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | good[static_cast<size_t>(i)];
  ASSERT_LT(8 + header_len, good.size());
  const std::string header(good.begin() + 8,
                           good.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  // Tokens a hostile or broken writer would change, and what to.
  const std::vector<std::pair<std::string, std::vector<std::string>>> swaps = {
      {"F32", {"F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "X"}},
      // (not "vgg16": a valid config whose 15M-parameter backbone is built
      // before the tensors are found wrong costs ~100 ms a file)
      {"tiny", {"mobilenet_v2", "", "tiny\\u0000"}},
      {"rcau", {"convgru", "baseline", "rcau_channel", "rcau_spatial", "rcau_no_reset", "rcan"}},
      {"rcan-1", {"rcan-2", ""}},
      {"cosal.config", {"cosal.konfig"}},
      {"data_offsets", {"data_offset"}},
      {"shape", {"shapes"}}};
  const char* numbers[] = {
      "0",          "1",  "7",   "63",  "4096", "2048", "1024",
      "4294967296", "-1", "1e3", "2.5", "null", "[]",   "18446744073709551615"};

  std::mt19937_64 rng(20261125);
  const std::string path = temp_path("rcan_mutant.safetensors");
  int accepted = 0, rejected = 0, late = 0, n = 0;
  double accepted_ms = 0, early_ms = 0, late_ms = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (; n < 3000; ++n) {
    std::vector<uint8_t> bad;
    std::string h = header;
    bool header_edit = false;
    switch (n % 6) {
      case 0: {  // flip bytes in the length field or the header
        bad = good;
        for (int i = 0, k = 1 + static_cast<int>(rng() % 3); i < k; ++i)
          bad[rng() % (8 + header_len)] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      }
      case 1: {  // flip bytes anywhere (mostly tensor data: NaNs, infinities)
        bad = good;
        for (int i = 0, k = 1 + static_cast<int>(rng() % 4); i < k; ++i)
          bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      }
      case 2:  // truncated anywhere
        bad.assign(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(rng() % good.size()));
        break;
      case 3: {  // a number in the header (offsets, shapes, config sizes) replaced
        std::vector<size_t> starts;
        for (size_t i = 0; i < h.size(); ++i)
          if (h[i] >= '0' && h[i] <= '9' && (i == 0 || h[i - 1] < '0' || h[i - 1] > '9'))
            starts.push_back(i);
        const size_t pos = starts[rng() % starts.size()];
        size_t len = 0;
        while (pos + len < h.size() && h[pos + len] >= '0' && h[pos + len] <= '9') ++len;
        h.replace(pos, len, numbers[rng() % (sizeof numbers / sizeof numbers[0])]);
        header_edit = true;
        break;
      }
      case 4: {  // a token swapped (dtype, backbone, variant, format, key names)
        const auto& [from, tos] = swaps[rng() % swaps.size()];
        std::vector<size_t> at;
        for (size_t p = h.find(from); p != std::string::npos; p = h.find(from, p + 1))
          at.push_back(p);
        if (!at.empty()) h.replace(at[rng() % at.size()], from.size(), tos[rng() % tos.size()]);
        header_edit = true;
        break;
      }
      default: {  // a tensor entry dropped or duplicated under another name
        const size_t p = h.find("\"dtype\"", rng() % h.size());
        if (p != std::string::npos) {
          const size_t open = h.rfind('{', p), close = h.find('}', p);
          if (rng() % 2)
            h.insert(close + 1,
                     ",\"extra" + std::to_string(n) + "\":" + h.substr(open, close + 1 - open));
          else
            h.replace(open, close + 1 - open, "null");
        }
        header_edit = true;
        break;
      }
    }
    if (header_edit) {
      bad.resize(8);
      for (int i = 0; i < 8; ++i)
        bad[static_cast<size_t>(i)] = static_cast<uint8_t>(h.size() >> (8 * i));
      bad.insert(bad.end(), h.begin(), h.end());
      bad.insert(bad.end(), good.begin() + 8 + static_cast<std::ptrdiff_t>(header_len), good.end());
    }
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bad.data()),
                static_cast<std::streamsize>(bad.size()));
    }
    const auto t1 = std::chrono::steady_clock::now();
    auto ms_since = [&t1] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1)
          .count();
    };
    try {
      cosal::Rcan loaded = cosal::load_rcan(path);
      ASSERT_TRUE(loaded) << n;
      ++accepted;
      accepted_ms += ms_since();
    } catch (const FormatError& e) {
      ++rejected;
      const bool built = std::string(e.what()).find("network built from") != std::string::npos;
      (built ? late_ms : early_ms) += ms_since();
      late += built;
      ASSERT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << n << ": " << e.what();
    } catch (const std::exception& e) {
      FAIL() << "mutation " << n << " threw " << typeid(e).name()
             << " instead of FormatError: " << e.what();
    }
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "RCAN loader: %d mutated/truncated files, %d rejected (%d before building the "
      "network, %.3f ms each; %d after, %.3f ms each), %d loaded (%.3f ms each), 0 "
      "crashes; %.3f ms a file with its writing\n",
      n, rejected, rejected - late, early_ms / std::max(1, rejected - late), late,
      late_ms / std::max(1, late), accepted, accepted_ms / std::max(1, accepted), ms / n);
  EXPECT_GT(rejected, 2000);
  EXPECT_GT(accepted, 50);  // harmless flips in tensor data still load
}

// A config that asks for a network far larger than the file (4096x4096
// native size: ~8 GB of RCAU spatial FC) is refused before it is built.
TEST(WeightsIo, ConfigAskingForAHugeNetworkIsRefusedBeforeAllocating) {
  cosal::RcanConfig cfg;
  cfg.backbone = "tiny";
  cfg.sir_channels = 8;
  cfg.decoder_channels = 8;
  cfg.input_width = cfg.input_height = 64;
  cosal::Rcan net(cfg);
  const std::string path = temp_path("rcan_huge_config.safetensors");
  cosal::save_rcan(path, *net);
  const auto file = cosal::safetensors::File::read(path);
  std::map<std::string, cosal::safetensors::TensorBytes> tensors;
  for (const auto& [name, info] : file.tensors())
    tensors[name] = {info.dtype, info.shape, file.data(info)};
  auto meta = file.metadata();
  cfg.input_width = cfg.input_height = 4096;
  meta["cosal.config"] = cfg.to_json();
  cosal::safetensors::write(path, tensors, meta);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = error_of([&] { cosal::load_rcan(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("4096x4096"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs at least"), std::string::npos) << msg;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
}

}  // namespace
