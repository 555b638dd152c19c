// Shapes and tensor views. Everything is float32, dense, row-major (NCHW for images).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "facestyle/status.h"

namespace facestyle {

using Shape = std::vector<int64_t>;

// Largest element count a single tensor may have (2^31 - 1 floats = 8 GiB). Larger requests are
// refused as a shape error rather than attempted.
constexpr int64_t kMaxTensorElements = (int64_t(1) << 31) - 1;

inline std::string shapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Element count, refusing negative dimensions and totals beyond kMaxTensorElements.
inline int64_t shapeElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    FACESTYLE_CHECK(d >= 0, Shape, "Expected non-negative dimensions but received " + shapeToString(shape));
    if (d != 0 && n > kMaxTensorElements / d)
      throw Error(ErrorCode::Shape, "Tensor of shape " + shapeToString(shape) + " exceeds the limit of " +
                                        std::to_string(kMaxTensorElements) + " elements");
    n *= d;
  }
  return n;
}

enum class Device { CPU = 0, CUDA = 1 };
constexpr int kDeviceCount = 2;

inline const char* deviceName(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// A non-owning view of float32 data on some device.
struct Tensor {
  float* data = nullptr;
  Shape shape;
  int64_t size() const { return shapeElements(shape); }
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape[i < 0 ? shape.size() + i : i]; }
};

}  // namespace facestyle
