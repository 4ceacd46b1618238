// torch::Tensor <-> safetensors and module state loading (see weights_io.h).
#include "weights_io.h"

#include <cstring>
#include <set>
#include <sstream>

namespace cosal {

namespace {

using safetensors::DType;
using safetensors::FormatError;

// safetensors stores little-endian bytes and tensors are copied verbatim.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "big-endian hosts are not supported");

const std::pair<DType, torch::ScalarType> kTypes[] = {
    {DType::F32, torch::kFloat32}, {DType::F16, torch::kFloat16}, {DType::BF16, torch::kBFloat16},
    {DType::F64, torch::kFloat64}, {DType::I64, torch::kInt64},   {DType::I32, torch::kInt32},
    {DType::I16, torch::kInt16},   {DType::I8, torch::kInt8},     {DType::U8, torch::kUInt8},
    {DType::BOOL, torch::kBool}};

torch::ScalarType to_torch(DType d) {
  for (const auto& [dt, st] : kTypes) {
    if (dt == d) return st;
  }
  throw std::logic_error("unmapped safetensors dtype");
}

bool from_torch(torch::ScalarType s, DType* out) {
  for (const auto& [dt, st] : kTypes) {
    if (st == s) {
      *out = dt;
      return true;
    }
  }
  return false;
}

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream s;
  s << shape;
  return s.str();
}

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  // The contiguous CPU copies must outlive the write() call.
  std::vector<torch::Tensor> keep;
  std::map<std::string, safetensors::TensorBytes> entries;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw FormatError(path + ": tensor '" + name + "' is undefined");
    safetensors::TensorBytes b;
    if (!from_torch(tensor.scalar_type(), &b.dtype)) {
      throw FormatError(path + ": tensor '" + name + "' has unsupported dtype " +
                        std::string(c10::toString(tensor.scalar_type())));
    }
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    b.shape = cpu.sizes().vec();
    b.data = cpu.data_ptr();
    keep.push_back(cpu);
    entries[name] = b;
  }
  safetensors::write(path, entries, metadata);
}

NamedTensors load_tensors(const safetensors::File& file) {
  NamedTensors out;
  for (const auto& [name, info] : file.tensors()) {
    torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(to_torch(info.dtype)));
    const size_t n = info.end - info.begin;
    if (n != static_cast<size_t>(t.nbytes())) {
      throw FormatError(file.origin() + ": tensor '" + name + "' has an inconsistent size");
    }
    if (n > 0) std::memcpy(t.data_ptr(), file.data(info), n);
    out[name] = t;
  }
  return out;
}

NamedTensors module_state(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out[b.key()] = b.value();
  return out;
}

void load_module_state(torch::nn::Module& module, const NamedTensors& tensors,
                       const std::string& origin, const std::string& prefix, bool allow_unused) {
  NamedTensors state = module_state(module);
  // Check everything before copying anything, so a bad file leaves the module untouched.
  std::vector<std::string> missing;
  for (const auto& [name, target] : state) {
    auto it = tensors.find(prefix + name);
    if (it == tensors.end()) {
      missing.push_back(prefix + name);
      continue;
    }
    const torch::Tensor& src = it->second;
    if (src.sizes() != target.sizes()) {
      throw FormatError(origin + ": tensor '" + prefix + name + "' has shape " +
                        shape_string(src.sizes()) + " but the model expects " +
                        shape_string(target.sizes()));
    }
    if (src.scalar_type() != target.scalar_type()) {
      throw FormatError(origin + ": tensor '" + prefix + name + "' has dtype " +
                        std::string(c10::toString(src.scalar_type())) + " but the model expects " +
                        std::string(c10::toString(target.scalar_type())));
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i)
      list += (i ? ", '" : "'") + missing[i] + "'";
    if (missing.size() > 5) list += " and " + std::to_string(missing.size() - 5) + " more";
    throw FormatError(origin + ": missing tensor" + (missing.size() > 1 ? "s " : " ") + list);
  }
  if (!allow_unused) {
    std::vector<std::string> unused;
    for (const auto& [name, t] : tensors) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      if (state.count(name.substr(prefix.size())) == 0) unused.push_back(name);
    }
    if (!unused.empty()) {
      std::string list;
      for (size_t i = 0; i < unused.size() && i < 5; ++i)
        list += (i ? ", '" : "'") + unused[i] + "'";
      if (unused.size() > 5) list += " and " + std::to_string(unused.size() - 5) + " more";
      throw FormatError(origin + ": unexpected tensor" + (unused.size() > 1 ? "s " : " ") + list +
                        " (not in the model)");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : state) target.copy_(tensors.at(prefix + name));
}

}  // namespace cosal
