// A small reader for TensorFlow Lite flatbuffers (schema.fbs), written by hand
// so the project needs no flatbuffers library. It reads what the MobileNetV2
// import needs: tensors (shape, type, data, quantisation), operators (builtin
// code, inputs, outputs, convolution options). The file is untrusted: every
// offset, length and index is checked against the buffer before it is used.
// No LibTorch here.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cosal::tflite {

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// schema.fbs TensorType values.
enum class TensorType : int8_t {
  FLOAT32 = 0,
  FLOAT16 = 1,
  INT32 = 2,
  UINT8 = 3,
  INT64 = 4,
  STRING = 5,
  BOOL = 6,
  INT16 = 7,
  COMPLEX64 = 8,
  INT8 = 9,
  FLOAT64 = 10,
};
const char* type_name(TensorType type);
// Bytes per element; 0 for types without a fixed size (STRING) or unknown ones.
size_t type_size(TensorType type);

// schema.fbs BuiltinOperator values used here.
namespace op {
constexpr int32_t ADD = 0, AVERAGE_POOL_2D = 1, CONCATENATION = 2, CONV_2D = 3,
                  DEPTHWISE_CONV_2D = 4, DEQUANTIZE = 6, RESHAPE = 22, RESIZE_BILINEAR = 23,
                  SOFTMAX = 25, PAD = 34, MEAN = 40, QUANTIZE = 114;
}

enum class Padding : int8_t { SAME = 0, VALID = 1 };
enum class Activation : int8_t {
  NONE = 0,
  RELU = 1,
  RELU_N1_TO_1 = 2,
  RELU6 = 3,
  TANH = 4,
  SIGN_BIT = 5
};

struct Quantization {
  std::vector<float> scale;  // one per tensor or one per channel
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool empty() const { return scale.empty(); }
};

struct Tensor {
  std::string name;
  std::vector<int32_t> shape;
  TensorType type = TensorType::FLOAT32;
  uint32_t buffer = 0;  // index into Model::buffers (0 = no data)
  Quantization quantization;
  size_t numel() const;
};

// Conv2DOptions / DepthwiseConv2DOptions (and the activation of ADD).
struct ConvOptions {
  Padding padding = Padding::SAME;
  int32_t stride_w = 1, stride_h = 1;
  int32_t dilation_w = 1, dilation_h = 1;
  int32_t depth_multiplier = 1;  // depthwise only
  Activation activation = Activation::NONE;
};

struct Operator {
  int32_t builtin_code = -1;  // op::...; max(deprecated_builtin_code, builtin_code)
  std::string custom_code;
  std::vector<int32_t> inputs, outputs;  // tensor indices, -1 = optional input absent
  bool has_conv_options = false;         // CONV_2D / DEPTHWISE_CONV_2D options were present
  ConvOptions conv;                      // for ADD only `activation` is set
  bool align_corners = false;            // RESIZE_BILINEAR options
  bool half_pixel_centers = false;
};

struct Subgraph {
  std::string name;
  std::vector<Tensor> tensors;
  std::vector<int32_t> inputs, outputs;
  std::vector<Operator> operators;  // in execution order
};

class Model {
 public:
  // Throws FormatError("<path>: <problem>").
  static Model read(const std::string& path);
  static Model parse(std::vector<uint8_t> bytes, const std::string& origin);

  uint32_t version = 0;
  std::string description;
  std::vector<Subgraph> subgraphs;

  const std::string& origin() const { return origin_; }
  size_t num_buffers() const { return buffers_.size(); }
  // Raw little-endian bytes of a tensor's buffer (empty when it has none).
  const uint8_t* buffer_data(uint32_t index) const;
  size_t buffer_size(uint32_t index) const;

  // A constant tensor as floats: real = scale * (q - zero_point), per tensor
  // or per channel along quantized_dimension; FLOAT32 is copied. Throws
  // FormatError when the tensor has no or inconsistent data/quantisation.
  // `quant` overrides the tensor's own quantisation parameters.
  std::vector<float> dequantize(const Subgraph& graph, int32_t tensor_index,
                                const Quantization* quant = nullptr) const;

 private:
  struct Span {
    size_t offset = 0, size = 0;
  };
  std::vector<uint8_t> bytes_;
  std::vector<Span> buffers_;
  std::string origin_;
};

}  // namespace cosal::tflite
