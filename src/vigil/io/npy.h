// NumPy .npy files (format version 1.0), little-endian float32 / int32, C order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace vigil::io {

// Writes a rows x cols float32 array (rows * cols values, row-major) atomically.
void WriteNpy(const std::filesystem::path& path, const float* data, int64_t rows, int64_t cols);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32
};
// Reads a float32/float64/int32/int64 .npy (C order); throws naming the file when malformed.
NpyArray ReadNpy(const std::filesystem::path& path);

}  // namespace vigil::io
