// A minimal dense float tensor for vigil's CPU inference core: contiguous, row-major (NCHW for
// images), owning its data. The networks vigil runs use batch 1, so most code works on C x H x W.
#pragma once

#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace vigil::nn {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> dims, float fill = 0.f)
      : shape(std::move(dims)), data(static_cast<size_t>(NumElements(shape)), fill) {}

  static int64_t NumElements(const std::vector<int64_t>& dims) {
    return std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<int64_t>());
  }
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int dim() const { return static_cast<int>(shape.size()); }
  int64_t size(int axis) const { return shape.at(axis < 0 ? axis + dim() : axis); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  std::string ShapeString() const;  // "[256, 128, 3, 3]"
  // Gives the tensor a new shape, keeping its allocation when large enough (element values are
  // then unspecified). Networks reuse their activation tensors this way between calls, which
  // avoids page-faulting fresh memory for every layer of every image.
  void Resize(std::vector<int64_t> dims) {
    shape = std::move(dims);
    data.resize(static_cast<size_t>(NumElements(shape)));
  }
};

}  // namespace vigil::nn
