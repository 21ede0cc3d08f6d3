#include "vigil/features/features_io.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::io {
namespace {

Features MakeFeatures() {
  Features f;
  f.keypoints.resize(3, 2);
  f.keypoints << 1.5f, 2.f, 10.f, 20.f, 639.f, 479.f;
  f.scores = Eigen::Vector3f(0.9f, 0.5f, 0.01f);
  f.descriptors = DescriptorMatrix::Random(3, 8);
  f.image_width = 640;
  f.image_height = 480;
  f.extractor = "test";
  return f;
}

TEST(FeaturesIo, RoundTripsFloatFeatures) {
  const auto dir = testing::MakeTempDir("features_io");
  const Features f = MakeFeatures();
  WriteFeatures(dir, "img", "img.png", f);
  const Features g = ReadFeatures(dir / "img.json");
  EXPECT_EQ(g.keypoints, f.keypoints);
  EXPECT_EQ(g.scores, f.scores);
  EXPECT_EQ(g.descriptors, f.descriptors);
  EXPECT_EQ(g.image_width, 640);
  EXPECT_EQ(g.extractor, "test");
}

TEST(FeaturesIo, RoundTripsBinaryDescriptors) {
  const auto dir = testing::MakeTempDir("features_io");
  Features f = MakeFeatures();
  f.descriptors.resize(0, 0);
  f.binary_descriptors.resize(3, 32);
  for (int i = 0; i < f.binary_descriptors.size(); ++i) f.binary_descriptors.data()[i] = i % 256;
  WriteFeatures(dir, "orb", "orb.png", f);
  const Features g = ReadFeatures(dir / "orb.json");
  EXPECT_TRUE(g.is_binary());
  EXPECT_EQ(g.binary_descriptors, f.binary_descriptors);
}

TEST(FeaturesIo, MissingFieldIsNamed) {
  const auto dir = testing::MakeTempDir("features_io");
  WriteTextFileAtomically(dir / "bad.json", R"({"width": 640, "height": 480, "extractor": "x"})");
  try {
    ReadFeatures(dir / "bad.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'keypoints'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vigil::io
