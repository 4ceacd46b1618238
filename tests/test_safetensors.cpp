// The safetensors reader/writer (no LibTorch): exact round trips, stable
// bytes, and a clear FormatError (never a crash) for every kind of broken file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "safetensors.h"

namespace st = cosal::safetensors;

namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A file from a header text and a data section, as a hostile writer would make it.
std::vector<uint8_t> make_file(const std::string& header, const std::vector<uint8_t>& data,
                               uint64_t header_len_override = UINT64_MAX) {
  const uint64_t len = header_len_override == UINT64_MAX ? header.size() : header_len_override;
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

struct Fixture {
  std::vector<float> f32{1.5f, -2.25f, 3.0e-38f, 1e30f, 0.0f, -0.0f};
  std::vector<uint16_t> f16{0x3c00, 0xc000, 0x7bff, 0x0001};
  std::vector<int64_t> i64{-1, INT64_MAX, INT64_MIN, 42};
  std::vector<uint8_t> u8{0, 255, 7};

  std::map<std::string, st::TensorBytes> tensors() const {
    return {{"weight", {st::DType::F32, {2, 3}, f32.data()}},
            {"half", {st::DType::F16, {4}, f16.data()}},
            {"step", {st::DType::I64, {2, 2}, i64.data()}},
            {"bytes", {st::DType::U8, {3}, u8.data()}},
            {"empty", {st::DType::F32, {0, 5}, nullptr}},
            {"scalar", {st::DType::F32, {}, f32.data()}}};
  }
  std::map<std::string, std::string> metadata() const {
    return {{"format", "pt"}, {"note", "quotes \" and \\ and unicode \xc3\xa9"}};
  }
};

TEST(Safetensors, RoundTripIsBitExact) {
  const Fixture fx;
  const std::string path = temp_path("roundtrip.safetensors");
  st::write(path, fx.tensors(), fx.metadata());
  const st::File f = st::File::read(path);
  EXPECT_EQ(f.metadata(), fx.metadata());
  ASSERT_EQ(f.tensors().size(), fx.tensors().size());
  for (const auto& [name, t] : fx.tensors()) {
    ASSERT_TRUE(f.has(name)) << name;
    const st::TensorInfo& info = f.info(name);
    EXPECT_EQ(info.dtype, t.dtype) << name;
    EXPECT_EQ(info.shape, t.shape) << name;
    const size_t n = info.numel() * st::dtype_size(info.dtype);
    EXPECT_EQ(info.end - info.begin, n) << name;
    if (n > 0) {
      EXPECT_EQ(std::memcmp(f.data(info), t.data, n), 0) << name;
    }
  }
  EXPECT_EQ(f.info("scalar").numel(), 1u);
  EXPECT_EQ(f.info("empty").numel(), 0u);
  EXPECT_THROW(f.info("absent"), st::FormatError);
}

TEST(Safetensors, BytesAreDeterministicAndAligned) {
  const Fixture fx;
  const std::string a = temp_path("det_a.safetensors"), b = temp_path("det_b.safetensors");
  st::write(a, fx.tensors(), fx.metadata());
  // Same content, inserted in another order.
  std::map<std::string, st::TensorBytes> reversed;
  const auto t = fx.tensors();
  for (auto it = t.rbegin(); it != t.rend(); ++it) reversed.insert(*it);
  st::write(b, reversed, fx.metadata());
  const std::vector<uint8_t> ba = read_bytes(a), bb = read_bytes(b);
  EXPECT_EQ(ba, bb);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | ba[static_cast<size_t>(i)];
  EXPECT_EQ(header_len % 8, 0u) << "data section should start 8-byte aligned";
  // Tensors are laid out in name order.
  const st::File f = st::File::parse(ba, "det");
  EXPECT_LT(f.info("bytes").begin, f.info("half").begin);
  EXPECT_LT(f.info("half").begin, f.info("step").begin);
  EXPECT_LT(f.info("step").begin, f.info("weight").begin);
}

TEST(Safetensors, WriteIsAtomicAndReportsFailures) {
  const Fixture fx;
  EXPECT_THROW(st::write("/nonexistent-dir/x.safetensors", fx.tensors(), {}), st::FormatError);
  // Overwriting replaces the file as a whole.
  const std::string path = temp_path("overwrite.safetensors");
  st::write(path, fx.tensors(), fx.metadata());
  st::write(path, {{"only", {st::DType::U8, {3}, fx.u8.data()}}}, {});
  const st::File f = st::File::read(path);
  EXPECT_EQ(f.tensors().size(), 1u);
  EXPECT_TRUE(f.metadata().empty());
}

// Every corruption is a FormatError whose message names the file.
void expect_format_error(const std::vector<uint8_t>& bytes, const std::string& tag,
                         const std::string& problem_part) {
  const std::string path = temp_path("bad_" + tag + ".safetensors");
  write_bytes(path, bytes);
  try {
    st::File::read(path);
    ADD_FAILURE() << tag << ": accepted";
  } catch (const st::FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << tag << ": " << msg;
    EXPECT_NE(msg.find(problem_part), std::string::npos) << tag << ": " << msg;
  }
}

TEST(Safetensors, RejectsEveryKindOfCorruption) {
  const std::vector<uint8_t> d16(16, 0);
  const auto hdr = [](const std::string& entry) { return "{\"t\":" + entry + "}"; };
  expect_format_error({1, 2, 3, 4, 5}, "short", "shorter than");
  expect_format_error(make_file("{}", {}, 1000), "len_gt_file", "exceeds the file size");
  expect_format_error(make_file("{}", {}, 200ull << 20), "len_gt_100mb", "100 MB");
  expect_format_error(make_file("{not json", {}), "not_json", "not valid JSON");
  expect_format_error(make_file("[1, 2]", {}), "not_object", "not a JSON object");
  expect_format_error(make_file(std::string(100, '[') + std::string(100, ']'), {}), "deep",
                      "nests too deeply");
  expect_format_error(make_file(hdr("7"), {}), "entry_not_object", "not an object");
  expect_format_error(make_file(hdr(R"({"dtype":"F8","shape":[1],"data_offsets":[0,1]})"), d16),
                      "dtype", "unknown dtype 'F8'");
  expect_format_error(make_file(hdr(R"({"shape":[1],"data_offsets":[0,4]})"), d16), "no_dtype",
                      "missing dtype");
  expect_format_error(make_file(hdr(R"({"dtype":"F32","data_offsets":[0,4]})"), d16), "no_shape",
                      "shape");
  expect_format_error(make_file(hdr(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), d16),
                      "negative", "non-negative");
  expect_format_error(make_file(hdr(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), d16),
                      "float_dim", "non-negative integers");
  expect_format_error(
      make_file(hdr(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]})"),
                d16),
      "overflow", "overflows");
  expect_format_error(
      make_file(hdr(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]})"), d16),
      "overflow_bytes", "overflows");
  for (const char* off :
       {R"([0])", R"([0,4,8])", R"([0.0,4])", R"(["0","4"])", R"(7)", R"([-4,0])"}) {
    expect_format_error(
        make_file(hdr(std::string(R"({"dtype":"F32","shape":[1],"data_offsets":)") + off + "}"),
                  d16),
        "offsets_type", "data_offsets must be [begin, end] integers");
  }
  expect_format_error(make_file(hdr(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})"), d16),
                      "begin_gt_end", "begin > end");
  expect_format_error(make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})"), d16),
                      "size_mismatch", "needs 8");
  expect_format_error(make_file(hdr(R"({"dtype":"F32","shape":[2],"data_offsets":[12,20]})"), d16),
                      "outside", "outside");
  expect_format_error(
      make_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          d16),
      "overlap", "overlap");
  expect_format_error(make_file(R"({"__metadata__":{"k":3}})", {}), "meta_value",
                      "__metadata__ value 'k' is not a string");
  expect_format_error(make_file(R"({"__metadata__":[1]})", {}), "meta_type",
                      "__metadata__ is not an object");
  expect_format_error({}, "empty", "shorter than");
  try {
    st::File::read(::testing::TempDir());
    ADD_FAILURE() << "directory accepted";
  } catch (const st::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  try {
    st::File::read(temp_path("does-not-exist.safetensors"));
    ADD_FAILURE() << "missing file accepted";
  } catch (const st::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("does-not-exist.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, AcceptsValidEdgeCases) {
  // Header padded with spaces, empty tensors sharing an offset, no metadata.
  const std::vector<uint8_t> d8(8, 0);
  const st::File f =
      st::File::parse(make_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                                R"("b":{"dtype":"U8","shape":[0,3],"data_offsets":[0,0]},)"
                                R"("c":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}   )",
                                d8),
                      "edge");
  EXPECT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.info("c").dtype, st::DType::BF16);
  EXPECT_EQ(std::string(st::dtype_name(st::DType::BF16)), "BF16");
  EXPECT_EQ(st::dtype_size(st::DType::I64), 8u);
}

// Random damage to a valid file: parsing either succeeds with every tensor
// inside the data section, or throws FormatError. Run under ASan/UBSan too.
TEST(Safetensors, RandomMutationsNeverCrash) {
  const Fixture fx;
  const std::string path = temp_path("mutate.safetensors");
  st::write(path, fx.tensors(), fx.metadata());
  const std::vector<uint8_t> good = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | good[static_cast<size_t>(i)];
  const std::string header(good.begin() + 8,
                           good.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  const std::vector<uint8_t> data(good.begin() + 8 + static_cast<std::ptrdiff_t>(header_len),
                                  good.end());
  const std::string alphabet = "{}[]\":,0123456789-.eE FUIB_abcdefghijklmnopqrstuvwxyz\\";

  std::mt19937_64 rng(20261125);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 9000; ++iter) {
    std::vector<uint8_t> bad;
    switch (iter % 4) {
      case 0: {  // flip random bytes anywhere
        bad = good;
        const int n = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < n; ++i)
          bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      }
      case 1:  // truncate
        bad.assign(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(rng() % good.size()));
        break;
      case 2: {  // edit the header text and keep the length field consistent
        std::string h = header;
        const int n = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < n; ++i) {
          const size_t pos = rng() % h.size();
          const char c = alphabet[rng() % alphabet.size()];
          switch (rng() % 3) {
            case 0:
              h[pos] = c;
              break;
            case 1:
              h.insert(h.begin() + static_cast<std::ptrdiff_t>(pos), c);
              break;
            default:
              h.erase(pos, 1);
              break;
          }
        }
        bad = make_file(h, data);
        break;
      }
      default: {  // change a number in the header (shapes, offsets) to a random one
        std::string h = header;
        std::vector<size_t> digits;
        for (size_t i = 0; i < h.size(); ++i) {
          if (h[i] >= '0' && h[i] <= '9') digits.push_back(i);
        }
        const size_t pos = digits[rng() % digits.size()];
        const uint64_t values[] = {
            0, 1, 7, 24, 1ull << 32, 1ull << 62, UINT64_MAX, static_cast<uint64_t>(rng())};
        h.replace(pos, 1, std::to_string(values[rng() % 8]));
        bad = make_file(h, data, rng() % 8 == 0 ? rng() : UINT64_MAX);
        break;
      }
    }
    try {
      const st::File f = st::File::parse(std::move(bad), "mutant");
      ++accepted;
      for (const auto& [name, info] : f.tensors()) {
        ASSERT_LE(info.begin, info.end) << name;
        ASSERT_EQ(info.end - info.begin, info.numel() * st::dtype_size(info.dtype)) << name;
        // Touch the bytes: an out-of-range view would show up under ASan.
        volatile uint8_t sink = 0;
        for (size_t i = info.begin; i < info.end; ++i) sink ^= f.data(info)[i - info.begin];
        (void)sink;
      }
    } catch (const st::FormatError& e) {
      ++rejected;
      ASSERT_EQ(std::string(e.what()).rfind("mutant: ", 0), 0u) << e.what();
    }
  }
  std::printf(
      "safetensors parser: 9000 mutated/truncated files, %d rejected, %d accepted, "
      "0 crashes\n",
      rejected, accepted);
  EXPECT_GT(rejected, 2000);
  EXPECT_GT(accepted, 20);
}

}  // namespace
