// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header, then raw little-endian tensor
// bytes. This reader treats the file as untrusted: every size, offset, dtype
// and shape is checked before a byte of tensor data is touched. No LibTorch
// here, so the parser can be fuzzed on its own (see model/weights_io.h for
// the torch::Tensor side).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cosal::safetensors {

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "F32", "F16", ...

struct TensorInfo {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t begin = 0;  // byte offsets into the data section
  size_t end = 0;
  size_t numel() const;
};

// A parsed file held in memory.
class File {
 public:
  // Reads and validates a whole file; throws FormatError("<path>: <problem>").
  static File read(const std::string& path);
  // Validates bytes already in memory; `origin` names them in errors.
  static File parse(std::vector<uint8_t> bytes, const std::string& origin);

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws FormatError if absent
  const uint8_t* data(const TensorInfo& info) const {
    return bytes_.data() + data_start_ + info.begin;
  }
  const std::string& origin() const { return origin_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t data_start_ = 0;
  std::string origin_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
};

struct TensorBytes {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel * dtype_size bytes, little-endian
};

// Writes atomically (temporary file in the same folder, fsync, rename).
// Tensors are laid out in name order, so equal inputs give equal files.
void write(const std::string& path, const std::map<std::string, TensorBytes>& tensors,
           const std::map<std::string, std::string>& metadata);

}  // namespace cosal::safetensors
