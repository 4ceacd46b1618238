// safetensors reader/writer. The file is untrusted: sizes, offsets, dtypes and
// shapes are validated before any tensor byte is exposed (see safetensors.h).
#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "sync_dir.h"

namespace cosal::safetensors {

namespace {

using json = nlohmann::json;

// A header larger than this is not a weights file we want to parse.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
// nlohmann's parser is iterative, but a sane header nests 3 levels; refusing
// deep nesting keeps hostile headers cheap.
constexpr int kMaxJsonDepth = 64;

[[noreturn]] void fail(const std::string& origin, const std::string& problem) {
  throw FormatError(origin + ": " + problem);
}

const std::pair<DType, const char*> kDTypeNames[] = {
    {DType::F32, "F32"}, {DType::F16, "F16"},  {DType::BF16, "BF16"}, {DType::F64, "F64"},
    {DType::I64, "I64"}, {DType::I32, "I32"},  {DType::I16, "I16"},   {DType::I8, "I8"},
    {DType::U8, "U8"},   {DType::BOOL, "BOOL"}};

bool parse_dtype(const std::string& s, DType* out) {
  for (const auto& [dtype, name] : kDTypeNames) {
    if (s == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

// Maximum nesting depth of JSON arrays/objects, ignoring brackets inside strings.
int json_depth(const char* p, size_t n) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

// A JSON number that is a non-negative integer (not 1.0, not -1).
bool as_size(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
      return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& [d, name] : kDTypeNames) {
    if (d == dtype) return name;
  }
  return "?";
}

size_t TensorInfo::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

const TensorInfo& File::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(origin_, "no tensor named '" + name + "'");
  return it->second;
}

File File::read(const std::string& path) {
  // A directory or device would "open" and report a nonsense size.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const auto size = static_cast<std::streamoff>(st.st_size);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    fail(path, "read error");
  }
  return parse(std::move(bytes), path);
}

File File::parse(std::vector<uint8_t> bytes, const std::string& origin) {
  File f;
  f.origin_ = origin;
  if (bytes.size() < 8) {
    fail(origin, "file is " + std::to_string(bytes.size()) +
                     " bytes, shorter than the 8-byte header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
  if (header_len > kMaxHeaderBytes) {
    fail(origin, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  if (header_len > bytes.size() - 8) {
    fail(origin, "header length " + std::to_string(header_len) + " exceeds the file size " +
                     std::to_string(bytes.size()));
  }
  const char* header_text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (json_depth(header_text, header_len) > kMaxJsonDepth) fail(origin, "header nests too deeply");
  json header;
  try {
    header = json::parse(header_text, header_text + header_len);
  } catch (const json::exception& e) {
    fail(origin, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(origin, "header is not a JSON object");

  f.data_start_ = 8 + header_len;
  const uint64_t data_size = bytes.size() - f.data_start_;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(origin, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(origin, "__metadata__ value '" + key + "' is not a string");
        f.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object()) fail(origin, where + ": entry is not an object");
    TensorInfo info;

    auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) fail(origin, where + ": missing dtype");
    if (!parse_dtype(dt->get<std::string>(), &info.dtype)) {
      fail(origin, where + ": unknown dtype '" + dt->get<std::string>() + "'");
    }

    auto sh = entry.find("shape");
    if (sh == entry.end() || !sh->is_array()) fail(origin, where + ": missing shape array");
    // numel * dtype_size must fit in the file, so bound it while multiplying.
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& d : *sh) {
      uint64_t dim = 0;
      if (!as_size(d, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(origin, where + ": shape entries must be non-negative integers");
      }
      info.shape.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
      numel *= dim;
    }
    const uint64_t elem = dtype_size(info.dtype);
    if (overflow || (numel != 0 && numel > std::numeric_limits<uint64_t>::max() / elem)) {
      // A zero dimension makes the product 0 even after an overflow of the others.
      bool has_zero = false;
      for (int64_t d : info.shape) has_zero = has_zero || d == 0;
      if (!has_zero) fail(origin, where + ": shape " + shape_string(info.shape) + " overflows");
      numel = 0;
    }

    auto off = entry.find("data_offsets");
    uint64_t begin = 0, end = 0;
    if (off == entry.end() || !off->is_array() || off->size() != 2 || !as_size((*off)[0], &begin) ||
        !as_size((*off)[1], &end)) {
      fail(origin, where + ": data_offsets must be [begin, end] integers");
    }
    if (begin > end) fail(origin, where + ": data_offsets begin > end");
    if (end - begin != numel * elem) {
      fail(origin, where + ": data_offsets span " + std::to_string(end - begin) +
                       " bytes but shape " + shape_string(info.shape) + " of " +
                       dtype_name(info.dtype) + " needs " + std::to_string(numel * elem));
    }
    if (end > data_size) {
      fail(origin, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                       "] lie outside the " + std::to_string(data_size) + "-byte data section");
    }
    info.begin = static_cast<size_t>(begin);
    info.end = static_cast<size_t>(end);
    f.tensors_[name] = std::move(info);
  }

  // Overlapping tensors would alias each other (a sign of a crafted file).
  std::vector<std::pair<const std::string*, const TensorInfo*>> order;
  for (const auto& [name, info] : f.tensors_) {
    if (info.end > info.begin) order.emplace_back(&name, &info);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i].second->begin < order[i - 1].second->end) {
      fail(origin, "tensors '" + *order[i - 1].first + "' and '" + *order[i].first + "' overlap");
    }
  }
  f.bytes_ = std::move(bytes);
  return f;
}

void write(const std::string& path, const std::map<std::string, TensorBytes>& tensors,
           const std::map<std::string, std::string>& metadata) {
  // nlohmann's object is a std::map: keys come out sorted, so the bytes are
  // a function of the inputs only.
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw FormatError(path + ": '__metadata__' is not a tensor name");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) throw FormatError(path + ": tensor '" + name + "' has a negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    const uint64_t n = numel * dtype_size(t.dtype);
    if (n != 0 && t.data == nullptr) {
      throw FormatError(path + ": tensor '" + name + "' has no data");
    }
    header[name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (as the
  // reference writer does).
  while ((text.size() % 8) != 0) text.push_back(' ');

  std::string tmp = path + ".tmp.XXXXXX";
  std::vector<char> tmpl(tmp.begin(), tmp.end());
  tmpl.push_back('\0');
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw FormatError(path + ": cannot create a temporary file: " + std::strerror(errno));
  tmp = tmpl.data();
  auto write_all = [&](const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const ssize_t w = ::write(fd, c, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  int err = 0;
  auto check = [&](bool good) {
    if (!good && err == 0) err = errno != 0 ? errno : EIO;
    return good;
  };
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((text.size() >> (8 * i)) & 0xff);
  bool ok = check(write_all(len, 8)) && check(write_all(text.data(), text.size()));
  for (const auto& [name, t] : tensors) {
    if (!ok) break;
    size_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
    ok = check(write_all(t.data, numel * dtype_size(t.dtype)));
  }
  ok = ok && check(::fchmod(fd, 0644) == 0) && check(::fsync(fd) == 0);
  ok = check(::close(fd) == 0) && ok;
  ok = ok && check(::rename(tmp.c_str(), path.c_str()) == 0);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw FormatError(path + ": write failed: " + std::strerror(err));
  }
  sync_parent_dir(path);
}

}  // namespace cosal::safetensors
