// The TFLite reader and the MobileNetV2 import: the imported network must
// classify the sanity images as the original does, and broken files must give
// clear errors (never a crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "backbone.h"
#include "deeplab_v3.h"
#include "image.h"
#include "mobilenet_v2.h"
#include "tflite_import.h"
#include "tflite_model.h"
#include "weights_io.h"

namespace {

std::string shared_dir() {
  const char* d = std::getenv("COSAL_SHARED_DIR");
  return d != nullptr ? d : "";
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

#define REQUIRE_SHARED(path)                                                            \
  do {                                                                                  \
    if (shared_dir().empty() || !exists(path)) {                                        \
      GTEST_SKIP() << "shared data not found (" << (path)                               \
                   << "); set COSAL_SHARED_DIR to the shared/ folder to run this test"; \
    }                                                                                   \
  } while (0)

std::string weights(const std::string& name) { return shared_dir() + "/weights/" + name; }

std::vector<std::string> labels() {
  std::ifstream in(weights("sanity/imagenet_labels.txt"));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // "tabby, tabby cat": the first synonym names the class.
    out.push_back(line.substr(0, line.find(',')));
  }
  return out;
}

torch::Tensor load_224(const std::string& path) {
  cosal::Image img = cosal::resize(cosal::load_image(path, 3), 224, 224);
  return torch::from_blob(img.pixels.data(), {1, 224, 224, 3}, torch::kUInt8)
      .permute({0, 3, 1, 2})
      .to(torch::kFloat32)
      .div(255.0);
}

struct Prediction {
  std::vector<std::string> top5;
  std::vector<float> p5;
};

Prediction classify(cosal::MobileNetV2Impl& net, const std::string& image) {
  torch::InferenceMode guard;
  torch::Tensor probs = torch::softmax(net.classify(load_224(image)), 1)[0];
  auto [p, idx] = probs.topk(5);
  const std::vector<std::string> names = labels();
  Prediction out;
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t c = idx[i].item<int64_t>();
    out.top5.push_back(c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)]
                                                              : "?");
    out.p5.push_back(p[i].item<float>());
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string temp_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(TfliteModel, ReadsMobileNetV2Graph) {
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  const cosal::tflite::Model m = cosal::tflite::Model::read(path);
  ASSERT_EQ(m.subgraphs.size(), 1u);
  const auto& g = m.subgraphs[0];
  ASSERT_EQ(g.inputs.size(), 1u);
  const auto& in = g.tensors[static_cast<size_t>(g.inputs[0])];
  EXPECT_EQ(in.shape, (std::vector<int32_t>{1, 224, 224, 3}));
  EXPECT_EQ(in.type, cosal::tflite::TensorType::UINT8);
  ASSERT_EQ(in.quantization.scale.size(), 1u);
  EXPECT_FLOAT_EQ(in.quantization.scale[0], 1.0f / 128.0f);
  EXPECT_EQ(in.quantization.zero_point.at(0), 128);
  // The first operator is the stem: 3x3 stride 2, SAME, fused ReLU6.
  const auto& op = g.operators.at(0);
  EXPECT_EQ(op.builtin_code, cosal::tflite::op::CONV_2D);
  ASSERT_TRUE(op.has_conv_options);
  EXPECT_EQ(op.conv.stride_h, 2);
  EXPECT_EQ(op.conv.padding, cosal::tflite::Padding::SAME);
  EXPECT_EQ(op.conv.activation, cosal::tflite::Activation::RELU6);
  const auto& w = g.tensors[static_cast<size_t>(op.inputs[1])];
  EXPECT_EQ(w.shape, (std::vector<int32_t>{32, 3, 3, 3}));
  // Dequantised weights follow real = scale * (q - zp) byte for byte.
  const std::vector<float> real = m.dequantize(g, op.inputs[1]);
  const uint8_t* q = m.buffer_data(w.buffer);
  ASSERT_EQ(real.size(), 32u * 27u);
  for (size_t i = 0; i < real.size(); i += 97) {
    EXPECT_FLOAT_EQ(
        real[i], w.quantization.scale[0] * static_cast<float>(q[i] - w.quantization.zero_point[0]));
  }
  EXPECT_EQ(g.operators.back().builtin_code, cosal::tflite::op::SOFTMAX);
}

TEST(TfliteImport, ClassifiesSanityImages) {
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  auto net = cosal::import_mobilenet_v2_tflite(path);
  net->eval();
  // Input quantisation 1/128, zero point 128: x = (255 * img - 128) / 128.
  EXPECT_NEAR(net->input_scale.view(-1)[0].item<float>(), 255.0 / 128.0, 1e-6);
  EXPECT_NEAR(net->input_shift.view(-1)[0].item<float>(), -1.0, 1e-6);

  const Prediction cat = classify(*net, weights("sanity/cat.bmp"));
  EXPECT_TRUE(contains(cat.top5, "Egyptian cat")) << ::testing::PrintToString(cat.top5);
  EXPECT_TRUE(contains(cat.top5, "tabby")) << ::testing::PrintToString(cat.top5);
  EXPECT_TRUE(contains(cat.top5, "tiger cat")) << ::testing::PrintToString(cat.top5);
  EXPECT_EQ(cat.top5[0], "Egyptian cat") << ::testing::PrintToString(cat.p5);
  std::printf("cat: %s %.3f, %s %.3f, %s %.3f\n", cat.top5[0].c_str(), cat.p5[0],
              cat.top5[1].c_str(), cat.p5[1], cat.top5[2].c_str(), cat.p5[2]);
  EXPECT_GT(cat.p5[0], 0.5f);

  const Prediction hopper = classify(*net, weights("sanity/grace_hopper.bmp"));
  EXPECT_EQ(hopper.top5[0], "military uniform") << ::testing::PrintToString(hopper.top5);
  EXPECT_GT(hopper.p5[0], 0.8f);
  std::printf("grace_hopper: %s %.3f\n", hopper.top5[0].c_str(), hopper.p5[0]);
}

TEST(TfliteImport, PerChannelInt8Model) {
  // The Keras model: int8 per-channel weights, uint8 input with zero point 127.
  const std::string path = weights("tf2_mobilenet_v2_1.0_224_ptq.tflite");
  REQUIRE_SHARED(path);
  auto net = cosal::import_mobilenet_v2_tflite(path);
  net->eval();
  const Prediction hopper = classify(*net, weights("sanity/grace_hopper.bmp"));
  EXPECT_EQ(hopper.top5[0], "military uniform") << ::testing::PrintToString(hopper.top5);
  const Prediction cat = classify(*net, weights("sanity/cat.bmp"));
  EXPECT_TRUE(contains(cat.top5, "Egyptian cat") || contains(cat.top5, "tabby"))
      << ::testing::PrintToString(cat.top5);
}

TEST(TfliteImport, LoadsIntoTheStride16Backbone) {
  // make_backbone's MobileNetV2 stops at stride 16: the imported classifier's
  // state loads into it (its deeper tensors unused) and gives the same X.
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  auto full = cosal::import_mobilenet_v2_tflite(path);
  auto backbone = cosal::make_backbone("mobilenet_v2");
  cosal::load_module_state(*backbone, cosal::module_state(*full), path, "", true);
  EXPECT_THROW(cosal::load_module_state(*backbone, cosal::module_state(*full), path),
               cosal::safetensors::FormatError);
  torch::InferenceMode guard;
  const torch::Tensor img = load_224(weights("sanity/cat.bmp"));
  const cosal::BackboneFeatures a = full->forward(img), b = backbone->forward(img);
  EXPECT_TRUE(torch::equal(a.x, b.x));
  EXPECT_TRUE(torch::equal(a.skips[0], b.skips[0]));
}

TEST(TfliteImport, StrideTapsHaveDocumentedShapes) {
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  auto net = cosal::import_mobilenet_v2_tflite(path);
  torch::InferenceMode guard;
  const auto t = net->taps(load_224(weights("sanity/cat.bmp")), 32);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].sizes(), (std::vector<int64_t>{1, 24, 56, 56}));
  EXPECT_EQ(t[1].sizes(), (std::vector<int64_t>{1, 32, 28, 28}));
  EXPECT_EQ(t[2].sizes(), (std::vector<int64_t>{1, 96, 14, 14}));
  EXPECT_EQ(t[3].sizes(), (std::vector<int64_t>{1, 320, 7, 7}));
}

torch::Tensor load_rgb(const std::string& path, int size) {
  cosal::Image img = cosal::resize(cosal::load_image(path, 3), size, size);
  return torch::from_blob(img.pixels.data(), {1, size, size, 3}, torch::kUInt8)
      .permute({0, 3, 1, 2})
      .to(torch::kFloat32)
      .div(255.0);
}

// Foreground IoU of DeepLabV3's 1 - P(background) > 0.5 against a sanity
// mask of label indices: pixels equal to `fg_label` are foreground (or, with
// fg_label < 0, every non-zero label), pixels equal to `ignore_label` are
// left out.
double deeplab_iou(cosal::DeepLabV3Impl& net, const std::string& image, const std::string& mask,
                   int fg_label, int ignore_label) {
  torch::InferenceMode guard;
  const cosal::Image m = cosal::load_image(mask, 1);  // grey palette: value = label
  const torch::Tensor fg = net.foreground_probability(load_rgb(image, 513));
  const torch::Tensor pred =
      torch::nn::functional::interpolate(fg, torch::nn::functional::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{m.height, m.width})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false))[0][0] > 0.5;
  const torch::Tensor labels =
      torch::from_blob(const_cast<uint8_t*>(m.pixels.data()), {m.height, m.width}, torch::kUInt8)
          .to(torch::kInt32);
  const torch::Tensor gt = fg_label < 0 ? labels > 0 : labels == fg_label;
  const torch::Tensor valid = labels != ignore_label;
  const double inter = (pred & gt & valid).sum().item<double>();
  const double uni = ((pred | gt) & valid).sum().item<double>();
  return uni > 0 ? inter / uni : 0.0;
}

TEST(TfliteImport, DeepLabV3SegmentsSanityImages) {
  const std::string path = weights("deeplabv3_mnv2_pascal_quant.tflite");
  REQUIRE_SHARED(path);
  auto net = cosal::import_deeplabv3_mnv2_tflite(path);
  net->eval();
  EXPECT_TRUE(net->align_corners);
  {
    torch::InferenceMode guard;
    const auto out = net->run(torch::rand({1, 3, 513, 513}));
    EXPECT_EQ(out.encoder.sizes(), (std::vector<int64_t>{1, 320, 33, 33}));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 21, 33, 33}));
  }
  // The dog mask is an Oxford-IIIT Pet trimap minus 1 (0 = pet, 1 = background,
  // 2 = border, ignored); the bird mask holds PASCAL class indices (3 = bird).
  const double dog = deeplab_iou(*net, weights("sanity/dog_segmentation.bmp"),
                                 weights("sanity/dog_segmentation_mask.bmp"), 0, 2);
  const double bird = deeplab_iou(*net, weights("sanity/bird_segmentation.bmp"),
                                  weights("sanity/bird_segmentation_mask.bmp"), -1, 255);
  std::printf("DeepLabV3 foreground IoU at 513^2: dog %.3f, bird %.3f\n", dog, bird);
  EXPECT_GT(dog, 0.8);
  EXPECT_GT(bird, 0.8);
  // The classifier file is not DeepLab (and vice versa): refused, not mis-loaded.
  EXPECT_THROW(cosal::import_deeplabv3_mnv2_tflite(weights("mobilenet_v2_1.0_224_quant.tflite")),
               cosal::tflite::FormatError);
  EXPECT_THROW(cosal::import_mobilenet_v2_tflite(path), cosal::tflite::FormatError);
}

// A backbone can start from either file: the encoder import returns the
// classifier as is, or DeepLab's encoder with its own (not ImageNet) weights.
TEST(TfliteImport, EncoderImportTakesTheClassifierOrDeepLab) {
  const std::string classifier = weights("mobilenet_v2_1.0_224_quant.tflite");
  const std::string deeplab = weights("deeplabv3_mnv2_pascal_quant.tflite");
  REQUIRE_SHARED(classifier);
  REQUIRE_SHARED(deeplab);
  const auto from_classifier = cosal::import_mobilenet_v2_encoder_tflite(classifier);
  const auto from_deeplab = cosal::import_mobilenet_v2_encoder_tflite(deeplab);
  const auto reference = cosal::import_deeplabv3_mnv2_tflite(deeplab);
  const auto a = cosal::module_state(*from_deeplab);
  const auto b = cosal::module_state(*reference->encoder);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_FALSE(torch::equal(cosal::module_state(*from_classifier).at("blocks.12.project.weight"),
                            a.at("blocks.12.project.weight")));
  try {
    cosal::import_mobilenet_v2_encoder_tflite(::testing::TempDir());
    FAIL() << "a folder accepted";
  } catch (const cosal::tflite::FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("classifier"), std::string::npos) << what;
    EXPECT_NE(what.find("DeepLab"), std::string::npos) << what;
  }
}

TEST(TfliteImport, MissingFileNamesIt) {
  try {
    cosal::import_mobilenet_v2_tflite("/nonexistent/model.tflite");
    FAIL() << "no error";
  } catch (const cosal::tflite::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.tflite"), std::string::npos);
  }
  EXPECT_THROW(cosal::import_mobilenet_v2_tflite(::testing::TempDir()), cosal::tflite::FormatError);
}

TEST(TfliteImport, GarbageAndTruncatedFilesGiveClearErrors) {
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  const std::vector<uint8_t> good = read_bytes(path);
  ASSERT_GT(good.size(), 1000u);

  std::vector<uint8_t> garbage(4096);
  std::mt19937 rng(7);
  for (auto& b : garbage) b = static_cast<uint8_t>(rng());
  const std::string gpath = temp_file("garbage.tflite", garbage);
  try {
    cosal::import_mobilenet_v2_tflite(gpath);
    FAIL() << "garbage accepted";
  } catch (const cosal::tflite::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(gpath), std::string::npos) << e.what();
  }

  // (This file ends with a zip of label files after the flatbuffer, so only
  // cuts into the flatbuffer itself must fail.)
  for (size_t keep : {size_t{0}, size_t{7}, size_t{64}, good.size() / 2, good.size() * 3 / 4}) {
    const std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep));
    const std::string tpath = temp_file("truncated.tflite", cut);
    try {
      cosal::import_mobilenet_v2_tflite(tpath);
      FAIL() << "truncated file of " << keep << " bytes accepted";
    } catch (const cosal::tflite::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(tpath), std::string::npos) << e.what();
    }
  }
}

TEST(TfliteModel, RandomCorruptionNeverCrashes) {
  const std::string path = weights("mobilenet_v2_1.0_224_quant.tflite");
  REQUIRE_SHARED(path);
  const std::vector<uint8_t> good = read_bytes(path);
  // The flatbuffer's tables and vectors sit in the first and last few KB
  // (weights in between): corrupt bytes near the offsets the reader follows.
  std::mt19937 rng(1234);
  int errors = 0;
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<uint8_t> bad = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      const size_t region = rng() % 2 == 0 ? 0 : bad.size() - std::min<size_t>(bad.size(), 65536);
      const size_t pos = region + rng() % std::min<size_t>(bad.size(), 65536);
      bad[pos] = static_cast<uint8_t>(rng());
    }
    try {
      const cosal::tflite::Model m = cosal::tflite::Model::parse(std::move(bad), "mutant.tflite");
      for (const auto& g : m.subgraphs) {
        for (const auto& op : g.operators) {
          for (int32_t i : op.inputs) {
            if (i >= 0) {
              try {
                (void)m.dequantize(g, i);
              } catch (const cosal::tflite::FormatError&) {
              }
            }
          }
        }
      }
    } catch (const cosal::tflite::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("mutant.tflite"), std::string::npos);
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
