// Bounds-checked TFLite flatbuffer reader (see tflite_model.h).
//
// Flatbuffer layout in brief: the file starts with a uint32 offset to the
// root table. A table starts with an int32 "soffset": its vtable lies at
// table - soffset. A vtable is uint16 [vtable size, table size, field
// offsets...]; a field offset of 0 (or a field past the vtable's end) means
// "absent, use the default". Reference fields (tables, vectors, strings) hold
// a uint32 offset relative to the field's own position. Vectors and strings
// start with a uint32 element count.
#include "tflite_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace cosal::tflite {

namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& problem) {
  throw FormatError(origin + ": " + problem);
}

class Reader {
 public:
  struct Table {
    size_t pos = 0;
    size_t vtable = 0;
    uint16_t vsize = 0;
  };
  struct Vec {
    size_t start = 0;  // first element
    size_t length = 0;
  };

  Reader(const std::vector<uint8_t>& bytes, const std::string& origin)
      : p_(bytes.data()), n_(bytes.size()), origin_(origin), budget_(16 * bytes.size() + 4096) {}

  [[noreturn]] void fail(const std::string& what) const { tflite::fail(origin_, what); }

  void check(size_t pos, size_t len, const char* what) const {
    if (pos > n_ || len > n_ - pos) {
      fail(std::string("truncated or corrupt flatbuffer (") + what + " at byte " +
           std::to_string(pos) + " lies outside the " + std::to_string(n_) + "-byte file)");
    }
  }

  template <typename T>
  T scalar(size_t pos, const char* what) const {
    check(pos, sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos, sizeof(T));
    return v;
  }

  // Follows the uint32 offset stored at `pos`.
  size_t deref(size_t pos, const char* what) const {
    const uint64_t target = pos + static_cast<uint64_t>(scalar<uint32_t>(pos, what));
    check(static_cast<size_t>(std::min<uint64_t>(target, n_ + 1)), 4, what);
    return static_cast<size_t>(target);
  }

  Table table(size_t pos, const char* what) const {
    Table t;
    t.pos = pos;
    const int64_t vt = static_cast<int64_t>(pos) - scalar<int32_t>(pos, what);
    if (vt < 0 || static_cast<uint64_t>(vt) >= n_) fail(std::string("bad vtable for ") + what);
    t.vtable = static_cast<size_t>(vt);
    t.vsize = scalar<uint16_t>(t.vtable, what);
    if (t.vsize < 4 || (t.vsize & 1) != 0) fail(std::string("bad vtable size for ") + what);
    check(t.vtable, t.vsize, what);
    return t;
  }

  // Absolute position of field `id`, or 0 when absent.
  size_t field(const Table& t, int id) const {
    const size_t voff = 4 + 2 * static_cast<size_t>(id);
    if (voff + 2 > t.vsize) return 0;
    const uint16_t off = scalar<uint16_t>(t.vtable + voff, "vtable");
    return off == 0 ? 0 : t.pos + off;
  }

  template <typename T>
  T get(const Table& t, int id, T def, const char* what) const {
    const size_t f = field(t, id);
    return f == 0 ? def : scalar<T>(f, what);
  }

  bool sub_table(const Table& t, int id, const char* what, Table* out) const {
    const size_t f = field(t, id);
    if (f == 0) return false;
    *out = table(deref(f, what), what);
    return true;
  }

  Vec vec(const Table& t, int id, size_t elem_size, const char* what) {
    const size_t f = field(t, id);
    if (f == 0) return {};
    const size_t at = deref(f, what);
    Vec v;
    v.length = scalar<uint32_t>(at, what);
    v.start = at + 4;
    check(v.start, v.length * elem_size, what);  // length < 2^32, elem <= 8: no overflow
    // Many tables may point at the same long vector: bound the total work.
    if (v.length > budget_) fail(std::string("too many elements (") + what + ")");
    budget_ -= v.length;
    return v;
  }

  template <typename T>
  std::vector<T> scalars(const Table& t, int id, const char* what) {
    const Vec v = vec(t, id, sizeof(T), what);
    std::vector<T> out(v.length);
    if (v.length > 0) std::memcpy(out.data(), p_ + v.start, v.length * sizeof(T));
    return out;
  }

  std::string str(const Table& t, int id, const char* what) {
    const Vec v = vec(t, id, 1, what);
    return std::string(reinterpret_cast<const char*>(p_ + v.start), v.length);
  }

  std::vector<Table> tables(const Table& t, int id, const char* what) {
    const Vec v = vec(t, id, 4, what);
    std::vector<Table> out;
    out.reserve(v.length);
    for (size_t i = 0; i < v.length; ++i) out.push_back(table(deref(v.start + 4 * i, what), what));
    return out;
  }

  size_t size() const { return n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  const std::string& origin_;
  size_t budget_;
};

// Field ids from tensorflow/lite/schema/schema.fbs.
namespace field {
constexpr int kModelVersion = 0, kModelOperatorCodes = 1, kModelSubgraphs = 2,
              kModelDescription = 3, kModelBuffers = 4;
constexpr int kCodeDeprecated = 0, kCodeCustom = 1, kCodeBuiltin = 3;
constexpr int kGraphTensors = 0, kGraphInputs = 1, kGraphOutputs = 2, kGraphOperators = 3,
              kGraphName = 4;
constexpr int kTensorShape = 0, kTensorType = 1, kTensorBuffer = 2, kTensorName = 3,
              kTensorQuant = 4;
constexpr int kQuantScale = 2, kQuantZeroPoint = 3, kQuantDim = 6;
constexpr int kOpOpcode = 0, kOpInputs = 1, kOpOutputs = 2, kOpOptionsType = 3, kOpOptions = 4;
constexpr int kBufferData = 0, kBufferOffset = 1, kBufferSize = 2;
}  // namespace field

// BuiltinOptions union member ids.
constexpr uint8_t kConv2DOptions = 1, kDepthwiseConv2DOptions = 2, kAddOptions = 11,
                  kResizeBilinearOptions = 15;

}  // namespace

const char* type_name(TensorType type) {
  switch (type) {
    case TensorType::FLOAT32:
      return "FLOAT32";
    case TensorType::FLOAT16:
      return "FLOAT16";
    case TensorType::INT32:
      return "INT32";
    case TensorType::UINT8:
      return "UINT8";
    case TensorType::INT64:
      return "INT64";
    case TensorType::STRING:
      return "STRING";
    case TensorType::BOOL:
      return "BOOL";
    case TensorType::INT16:
      return "INT16";
    case TensorType::COMPLEX64:
      return "COMPLEX64";
    case TensorType::INT8:
      return "INT8";
    case TensorType::FLOAT64:
      return "FLOAT64";
  }
  return "UNKNOWN";
}

size_t type_size(TensorType type) {
  switch (type) {
    case TensorType::FLOAT64:
    case TensorType::INT64:
    case TensorType::COMPLEX64:
      return 8;
    case TensorType::FLOAT32:
    case TensorType::INT32:
      return 4;
    case TensorType::FLOAT16:
    case TensorType::INT16:
      return 2;
    case TensorType::UINT8:
    case TensorType::INT8:
    case TensorType::BOOL:
      return 1;
    case TensorType::STRING:
      return 0;
  }
  return 0;
}

size_t Tensor::numel() const {
  size_t n = 1;
  for (int32_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

Model Model::read(const std::string& path) {
  // A directory or device would "open" and report a nonsense size.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail(path, std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const auto size = static_cast<std::streamoff>(st.st_size);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) fail(path, "read error");
  return parse(std::move(bytes), path);
}

Model Model::parse(std::vector<uint8_t> bytes, const std::string& origin) {
  Model m;
  m.origin_ = origin;
  if (bytes.size() < 8) fail(origin, "too short to be a TFLite model");
  if (std::memcmp(bytes.data() + 4, "TFL3", 4) != 0) {
    fail(origin, "not a TFLite model (no \"TFL3\" file identifier)");
  }
  Reader r(bytes, origin);
  const Reader::Table root = r.table(r.deref(0, "root table"), "model");
  m.version = r.get<uint32_t>(root, field::kModelVersion, 0, "version");
  m.description = r.str(root, field::kModelDescription, "description");

  for (const Reader::Table& b : r.tables(root, field::kModelBuffers, "buffers")) {
    Span s;
    const uint64_t offset = r.get<uint64_t>(b, field::kBufferOffset, 0, "buffer offset");
    if (offset > 1) {
      // Large models keep data after the flatbuffer, addressed from the file start.
      const uint64_t size = r.get<uint64_t>(b, field::kBufferSize, 0, "buffer size");
      if (offset > r.size() || size > r.size() - offset) {
        fail(origin, "buffer data [" + std::to_string(offset) + ", +" + std::to_string(size) +
                         ") lies outside the file");
      }
      s.offset = static_cast<size_t>(offset);
      s.size = static_cast<size_t>(size);
    } else {
      Reader::Vec v = r.vec(b, field::kBufferData, 1, "buffer data");
      s.offset = v.start;
      s.size = v.length;
    }
    m.buffers_.push_back(s);
  }

  std::vector<int32_t> codes;
  std::vector<std::string> custom;
  for (const Reader::Table& c : r.tables(root, field::kModelOperatorCodes, "operator codes")) {
    // Old files only have the int8 deprecated code; new ones set both, and
    // builtin codes >= 127 live only in builtin_code.
    const int32_t deprecated = r.get<int8_t>(c, field::kCodeDeprecated, 0, "operator code");
    const int32_t builtin = r.get<int32_t>(c, field::kCodeBuiltin, 0, "operator code");
    codes.push_back(std::max(deprecated, builtin));
    custom.push_back(r.str(c, field::kCodeCustom, "custom code"));
  }

  for (const Reader::Table& g : r.tables(root, field::kModelSubgraphs, "subgraphs")) {
    Subgraph sg;
    sg.name = r.str(g, field::kGraphName, "subgraph name");
    for (const Reader::Table& t : r.tables(g, field::kGraphTensors, "tensors")) {
      Tensor tensor;
      tensor.name = r.str(t, field::kTensorName, "tensor name");
      tensor.shape = r.scalars<int32_t>(t, field::kTensorShape, "tensor shape");
      const std::string where = "tensor '" + tensor.name + "'";
      for (int32_t d : tensor.shape) {
        if (d < 0) fail(origin, where + " has a negative dimension");
      }
      tensor.type = static_cast<TensorType>(r.get<int8_t>(t, field::kTensorType, 0, "tensor type"));
      tensor.buffer = r.get<uint32_t>(t, field::kTensorBuffer, 0, "tensor buffer");
      if (tensor.buffer >= m.buffers_.size() && !(tensor.buffer == 0 && m.buffers_.empty())) {
        fail(origin, where + " refers to buffer " + std::to_string(tensor.buffer) + " of " +
                         std::to_string(m.buffers_.size()));
      }
      Reader::Table q;
      if (r.sub_table(t, field::kTensorQuant, "quantization", &q)) {
        tensor.quantization.scale = r.scalars<float>(q, field::kQuantScale, "quantization scale");
        tensor.quantization.zero_point =
            r.scalars<int64_t>(q, field::kQuantZeroPoint, "quantization zero point");
        tensor.quantization.quantized_dimension =
            r.get<int32_t>(q, field::kQuantDim, 0, "quantized dimension");
      }
      sg.tensors.push_back(std::move(tensor));
    }
    const auto n_tensors = static_cast<int64_t>(sg.tensors.size());
    auto check_indices = [&](const std::vector<int32_t>& idx, const char* what) {
      for (int32_t i : idx) {
        if (i < -1 || i >= n_tensors) {
          fail(origin, std::string(what) + " refers to tensor " + std::to_string(i) + " of " +
                           std::to_string(n_tensors));
        }
      }
    };
    sg.inputs = r.scalars<int32_t>(g, field::kGraphInputs, "subgraph inputs");
    sg.outputs = r.scalars<int32_t>(g, field::kGraphOutputs, "subgraph outputs");
    check_indices(sg.inputs, "a subgraph input");
    check_indices(sg.outputs, "a subgraph output");

    for (const Reader::Table& o : r.tables(g, field::kGraphOperators, "operators")) {
      Operator op;
      const uint32_t opcode = r.get<uint32_t>(o, field::kOpOpcode, 0, "opcode index");
      if (opcode >= codes.size()) {
        fail(origin, "operator " + std::to_string(sg.operators.size()) + " has opcode index " +
                         std::to_string(opcode) + " of " + std::to_string(codes.size()));
      }
      op.builtin_code = codes[opcode];
      op.custom_code = custom[opcode];
      op.inputs = r.scalars<int32_t>(o, field::kOpInputs, "operator inputs");
      op.outputs = r.scalars<int32_t>(o, field::kOpOutputs, "operator outputs");
      check_indices(op.inputs, "an operator input");
      check_indices(op.outputs, "an operator output");
      const uint8_t options_type = r.get<uint8_t>(o, field::kOpOptionsType, 0, "options type");
      Reader::Table opt;
      const bool has_opt = r.sub_table(o, field::kOpOptions, "builtin options", &opt);
      if (has_opt && options_type == kConv2DOptions) {
        op.has_conv_options = true;
        op.conv.padding = static_cast<Padding>(r.get<int8_t>(opt, 0, 0, "conv options"));
        op.conv.stride_w = r.get<int32_t>(opt, 1, 0, "conv options");
        op.conv.stride_h = r.get<int32_t>(opt, 2, 0, "conv options");
        op.conv.activation = static_cast<Activation>(r.get<int8_t>(opt, 3, 0, "conv options"));
        op.conv.dilation_w = r.get<int32_t>(opt, 4, 1, "conv options");
        op.conv.dilation_h = r.get<int32_t>(opt, 5, 1, "conv options");
      } else if (has_opt && options_type == kDepthwiseConv2DOptions) {
        op.has_conv_options = true;
        op.conv.padding = static_cast<Padding>(r.get<int8_t>(opt, 0, 0, "depthwise options"));
        op.conv.stride_w = r.get<int32_t>(opt, 1, 0, "depthwise options");
        op.conv.stride_h = r.get<int32_t>(opt, 2, 0, "depthwise options");
        op.conv.depth_multiplier = r.get<int32_t>(opt, 3, 0, "depthwise options");
        op.conv.activation = static_cast<Activation>(r.get<int8_t>(opt, 4, 0, "depthwise options"));
        op.conv.dilation_w = r.get<int32_t>(opt, 5, 1, "depthwise options");
        op.conv.dilation_h = r.get<int32_t>(opt, 6, 1, "depthwise options");
      } else if (has_opt && options_type == kResizeBilinearOptions) {
        op.align_corners = r.get<uint8_t>(opt, 2, 0, "resize options") != 0;
        op.half_pixel_centers = r.get<uint8_t>(opt, 3, 0, "resize options") != 0;
      } else if (has_opt && options_type == kAddOptions) {
        op.conv.activation = static_cast<Activation>(r.get<int8_t>(opt, 0, 0, "add options"));
      }
      sg.operators.push_back(std::move(op));
    }
    m.subgraphs.push_back(std::move(sg));
  }
  if (m.subgraphs.empty()) fail(origin, "the model has no subgraph");
  m.bytes_ = std::move(bytes);
  return m;
}

const uint8_t* Model::buffer_data(uint32_t index) const {
  if (index >= buffers_.size())
    fail(origin_, "buffer index " + std::to_string(index) + " out of range");
  return bytes_.data() + buffers_[index].offset;
}

size_t Model::buffer_size(uint32_t index) const {
  if (index >= buffers_.size())
    fail(origin_, "buffer index " + std::to_string(index) + " out of range");
  return buffers_[index].size;
}

std::vector<float> Model::dequantize(const Subgraph& graph, int32_t tensor_index,
                                     const Quantization* quant) const {
  if (tensor_index < 0 || static_cast<size_t>(tensor_index) >= graph.tensors.size()) {
    fail(origin_, "tensor index " + std::to_string(tensor_index) + " out of range");
  }
  const Tensor& t = graph.tensors[static_cast<size_t>(tensor_index)];
  const std::string where = "tensor '" + t.name + "'";
  // Product of dimensions, bounded by the file size (checked against the buffer below).
  size_t numel = 1;
  for (int32_t d : t.shape) {
    if (d != 0 && numel > bytes_.size() / static_cast<size_t>(d)) {
      fail(origin_, where + " is larger than the file");
    }
    numel *= static_cast<size_t>(d);
  }
  const size_t elem = type_size(t.type);
  if (elem == 0 || t.type == TensorType::COMPLEX64 || t.type == TensorType::BOOL) {
    fail(origin_, where + " has unsupported type " + type_name(t.type));
  }
  const size_t have = buffer_size(t.buffer);
  if (have != numel * elem) {
    fail(origin_, where + " has " + std::to_string(have) + " bytes of data, its shape and type " +
                      type_name(t.type) + " need " + std::to_string(numel * elem));
  }
  const uint8_t* data = buffer_data(t.buffer);
  std::vector<float> out(numel);
  if (t.type == TensorType::FLOAT32) {
    if (numel > 0) std::memcpy(out.data(), data, numel * 4);
    return out;
  }
  if (t.type == TensorType::FLOAT16 || t.type == TensorType::FLOAT64) {
    fail(origin_, where + " has unsupported type " + type_name(t.type));
  }

  const Quantization& q = quant != nullptr ? *quant : t.quantization;
  if (q.scale.empty()) fail(origin_, where + " is " + type_name(t.type) + " without quantisation");
  const size_t channels = q.scale.size();
  size_t inner = 1;  // elements per step along the quantised dimension
  if (channels > 1) {
    const int32_t dim = q.quantized_dimension;
    if (dim < 0 || static_cast<size_t>(dim) >= t.shape.size() ||
        static_cast<size_t>(t.shape[static_cast<size_t>(dim)]) != channels) {
      fail(origin_, where + ": " + std::to_string(channels) +
                        " per-channel scales do not match quantized_dimension " +
                        std::to_string(dim));
    }
    for (size_t i = static_cast<size_t>(dim) + 1; i < t.shape.size(); ++i) {
      inner *= static_cast<size_t>(t.shape[i]);
    }
  }
  if (!q.zero_point.empty() && q.zero_point.size() != channels && q.zero_point.size() != 1) {
    fail(origin_, where + ": " + std::to_string(q.zero_point.size()) + " zero points for " +
                      std::to_string(channels) + " scales");
  }
  for (size_t i = 0; i < numel; ++i) {
    const size_t c = channels > 1 ? (i / inner) % channels : 0;
    const int64_t zp = q.zero_point.empty() ? 0 : q.zero_point[q.zero_point.size() == 1 ? 0 : c];
    int64_t v = 0;
    switch (t.type) {
      case TensorType::UINT8:
        v = data[i];
        break;
      case TensorType::INT8:
        v = static_cast<int8_t>(data[i]);
        break;
      case TensorType::INT16: {
        int16_t x;
        std::memcpy(&x, data + 2 * i, 2);
        v = x;
        break;
      }
      case TensorType::INT32: {
        int32_t x;
        std::memcpy(&x, data + 4 * i, 4);
        v = x;
        break;
      }
      case TensorType::INT64:
        std::memcpy(&v, data + 8 * i, 8);
        break;
      default:
        fail(origin_, where + " has unsupported type " + type_name(t.type));
    }
    out[i] = q.scale[c] * static_cast<float>(v - zp);
  }
  return out;
}

}  // namespace cosal::tflite
