#include "vigil/io/npy.h"

#include <cstring>
#include <limits>
#include <type_traits>
#include <regex>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"

namespace vigil::io {
namespace fs = std::filesystem;

namespace {
constexpr char kMagic[] = "\x93NUMPY";

// Header dict padded so that the data starts on a 64-byte boundary (NumPy's own layout).
std::string NpyHeader(int64_t rows, int64_t cols) {
  std::string dict =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  const size_t unpadded = 6 + 2 + 2 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string header(kMagic, 6);
  header.push_back('\x01');
  header.push_back('\x00');
  const uint16_t length = static_cast<uint16_t>(dict.size());
  header.push_back(static_cast<char>(length & 0xff));
  header.push_back(static_cast<char>(length >> 8));
  return header + dict;
}

template <typename T>
void Convert(const char* bytes, size_t count, std::vector<float>* out) {
  out->resize(count);
  for (size_t i = 0; i < count; ++i) {
    T value;
    std::memcpy(&value, bytes + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, double>) {
      // A float64 beyond float's range converts to inf; casting it directly is undefined.
      const double limit = std::numeric_limits<float>::max();
      if (value > limit) {
        (*out)[i] = std::numeric_limits<float>::infinity();
        continue;
      }
      if (value < -limit) {
        (*out)[i] = -std::numeric_limits<float>::infinity();
        continue;
      }
    }
    (*out)[i] = static_cast<float>(value);
  }
}
}  // namespace

void WriteNpy(const fs::path& path, const float* data, int64_t rows, int64_t cols) {
  VIGIL_CHECK(rows >= 0 && cols >= 0, "{}: negative array shape", path.string());
  std::string bytes = NpyHeader(rows, cols);
  bytes.append(reinterpret_cast<const char*>(data), static_cast<size_t>(rows * cols) * sizeof(float));
  WriteBinaryFileAtomically(path, bytes.data(), bytes.size());
}

NpyArray ReadNpy(const fs::path& path) {
  const std::string bytes = ReadFileToString(path);
  VIGIL_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, kMagic, 6) == 0,
              "{}: not a .npy file (bad magic)", path.string());
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    VIGIL_CHECK(bytes.size() >= 12, "{}: truncated .npy header", path.string());
    for (int i = 0; i < 4; ++i) header_len |= size_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    offset = 12;
  }
  VIGIL_CHECK(offset + header_len <= bytes.size(), "{}: truncated .npy header", path.string());
  const std::string header = bytes.substr(offset, header_len);
  std::smatch descr, shape;
  VIGIL_CHECK(std::regex_search(header, descr, std::regex("'descr':\\s*'([<|]?)([a-z]\\d)'")),
              "{}: .npy header has no dtype", path.string());
  VIGIL_CHECK(header.find("'fortran_order': False") != std::string::npos,
              "{}: Fortran-ordered .npy is not supported", path.string());
  VIGIL_CHECK(std::regex_search(header, shape, std::regex("'shape':\\s*\\(([^)]*)\\)")),
              "{}: .npy header has no shape", path.string());
  NpyArray array;
  const std::string dims = shape[1];
  const std::regex number("\\d+");
  std::sregex_iterator it(dims.begin(), dims.end(), number), end;
  const std::string type = descr[2];
  const size_t item = static_cast<size_t>(type[1] - '0');
  VIGIL_CHECK(item > 0, "{}: unsupported .npy dtype {}", path.string(), type);
  const size_t data_offset = offset + header_len;
  // The shape comes from the file: every dimension is bounded by the bytes actually present
  // before it is multiplied in, so a forged header cannot overflow the count (std::stoll would
  // throw a bare std::out_of_range, the product would wrap) or ask for a huge allocation.
  const size_t available = (bytes.size() - data_offset) / item;
  size_t count = 1;
  bool any_zero = false;
  for (; it != end; ++it) {
    const std::string digits = it->str();
    VIGIL_CHECK(digits.size() <= 15, "{}: .npy shape dimension {} is too large", path.string(),
                digits);
    const int64_t d = std::stoll(digits);
    array.shape.push_back(d);
    if (d == 0) any_zero = true;
    if (any_zero) continue;
    VIGIL_CHECK(static_cast<size_t>(d) <= available / count,
                "{}: .npy data is truncated (shape {} needs more than the {} bytes present)",
                path.string(), dims, bytes.size() - data_offset);
    count *= static_cast<size_t>(d);
  }
  if (any_zero) count = 0;
  VIGIL_CHECK(bytes.size() - data_offset >= count * item,
              "{}: .npy data is truncated ({} values expected)", path.string(), count);
  const char* data = bytes.data() + data_offset;
  if (type == "f4") {
    Convert<float>(data, count, &array.data);
  } else if (type == "f8") {
    Convert<double>(data, count, &array.data);
  } else if (type == "i4") {
    Convert<int32_t>(data, count, &array.data);
  } else if (type == "i8") {
    Convert<int64_t>(data, count, &array.data);
  } else {
    ThrowError(fmt::format("{}: unsupported .npy dtype {}", path.string(), type));
  }
  return array;
}

}  // namespace vigil::io
