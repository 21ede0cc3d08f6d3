#include "vigil/io/npy.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::io {
namespace {

TEST(Npy, RoundTripsFloatMatrix) {
  const auto dir = testing::MakeTempDir("npy");
  const std::vector<float> values = {1.f, -2.5f, 3.25f, 0.f, 1e-7f, 42.f};
  WriteNpy(dir / "a.npy", values.data(), 2, 3);
  const NpyArray read = ReadNpy(dir / "a.npy");
  EXPECT_EQ(read.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(read.data, values);
}

TEST(Npy, HeaderIsNumpyVersion1AlignedTo64Bytes) {
  const auto dir = testing::MakeTempDir("npy");
  const float value = 1.f;
  WriteNpy(dir / "b.npy", &value, 1, 1);
  const std::string bytes = ReadFileToString(dir / "b.npy");
  EXPECT_EQ(bytes.substr(1, 5), "NUMPY");
  EXPECT_EQ(bytes[6], '\x01');
  EXPECT_EQ((bytes.size() - sizeof(float)) % 64, 0u);
  EXPECT_NE(bytes.find("'shape': (1, 1)"), std::string::npos);
}

TEST(Npy, RejectsTruncatedData) {
  const auto dir = testing::MakeTempDir("npy");
  const std::vector<float> values(10, 1.f);
  WriteNpy(dir / "c.npy", values.data(), 2, 5);
  std::string bytes = ReadFileToString(dir / "c.npy");
  bytes.resize(bytes.size() - 4);
  WriteTextFileAtomically(dir / "c.npy", bytes);
  EXPECT_THROW(ReadNpy(dir / "c.npy"), Error);
  WriteTextFileAtomically(dir / "d.npy", "not numpy at all");
  EXPECT_THROW(ReadNpy(dir / "d.npy"), Error);
}

}  // namespace
}  // namespace vigil::io
