// torch::Tensor <-> safetensors and module state loading: exact round trips
// and errors that name the offending tensor.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <torch/torch.h>

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

}  // namespace
