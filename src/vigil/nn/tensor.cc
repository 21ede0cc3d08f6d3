#include "vigil/nn/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace vigil::nn {

std::string Tensor::ShapeString() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace vigil::nn
