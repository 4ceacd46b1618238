// libFuzzer entry point for the safetensors parser (not part of the Meson
// build, which uses GCC). Build and run with Debian's clang:
//
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined \
//     -fno-sanitize-recover=undefined -Imodel tests/fuzz_safetensors.cpp \
//     model/safetensors.cpp -o fuzz_safetensors
//   ./fuzz_safetensors -max_total_time=120 -max_len=4096 CORPUS_DIR
//
// Every input must parse or throw FormatError naming its origin; an accepted
// file's tensors must lie inside the buffer (touched byte by byte, so ASan
// sees any out-of-range view).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace st = cosal::safetensors;
  try {
    const st::File f = st::File::parse(std::vector<uint8_t>(data, data + size), "fuzz");
    for (const auto& [name, info] : f.tensors()) {
      if (info.end < info.begin ||
          info.end - info.begin != info.numel() * st::dtype_size(info.dtype))
        std::abort();
      const uint8_t* p = f.data(info);
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < info.end - info.begin; ++i) sink ^= p[i];
      (void)sink;
    }
  } catch (const st::FormatError& e) {
    if (std::strncmp(e.what(), "fuzz: ", 6) != 0) std::abort();
  }
  return 0;
}
