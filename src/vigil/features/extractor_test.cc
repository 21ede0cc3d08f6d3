#include "vigil/features/extractor.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil {
namespace {

// Leaf paths of `changed` whose value differs from the default options', with the new value.
std::map<std::string, nlohmann::json> ChangedFields(const FeatureExtractorOptions& changed) {
  std::map<std::string, nlohmann::json> defaults, out;
  ForEachLeafField(FeatureExtractorOptions{},
                   [&](const std::string& path, const nlohmann::json& v) { defaults[path] = v; });
  ForEachLeafField(changed, [&](const std::string& path, const nlohmann::json& v) {
    if (defaults.at(path) != v) out[path] = v;
  });
  return out;
}

TEST(SharedExtractorSettings, UnsetSettingsChangeNothing) {
  FeatureExtractorOptions options;
  options.ApplyShared(SharedExtractorSettings{});
  EXPECT_TRUE(ChangedFields(options).empty());
}

// Each setting lands in each extractor's own field, and nowhere else (the mapping the CLI's
// flags and the ROS node's ~max_keypoints have always had).
TEST(SharedExtractorSettings, EachExtractorTakesThemInItsOwnFields) {
  SharedExtractorSettings shared;
  shared.weights = "w.pth";
  shared.max_keypoints = 123;
  shared.keypoint_threshold = 0.01f;
  shared.nms_radius = 3;
  FeatureExtractorOptions options;
  options.ApplyShared(shared);
  const std::map<std::string, nlohmann::json> expected = {
      {"superpoint.weights", "w.pth"},   {"superpoint.max_keypoints", 123},
      {"superpoint.keypoint_threshold", 0.01f}, {"superpoint.nms_radius", 3},
      {"aliked.weights", "w.pth"},       {"aliked.top_k", 123},
      {"aliked.scores_th", 0.01f},       {"aliked.radius", 3},
      {"sift.max_keypoints", 123},       {"orb.max_keypoints", 123},
  };
  EXPECT_EQ(ChangedFields(options), expected);
}

TEST(SharedExtractorSettings, AllKeypointsIsEachExtractorsOwnAll) {
  SharedExtractorSettings shared;
  shared.max_keypoints = -1;
  FeatureExtractorOptions options;
  options.ApplyShared(shared);
  EXPECT_EQ(options.superpoint.max_keypoints, -1);
  EXPECT_EQ(options.aliked.top_k, -1);   // threshold mode
  EXPECT_EQ(options.sift.max_keypoints, 0);  // SIFT's "all"
  EXPECT_EQ(options.orb.max_keypoints, -1);  // ORB has no "all": its Check() refuses it
  options.type = "orb";
  EXPECT_THROW(options.Check(), Error);
  options.type = "sift";
  EXPECT_NO_THROW(options.Check());
}

TEST(SharedExtractorSettings, BelowMinusOneIsNamedAsTheFrontEndSpellsIt) {
  SharedExtractorSettings shared;
  shared.max_keypoints = -2;
  shared.max_keypoints_option = "~max_keypoints";
  FeatureExtractorOptions options;
  try {
    options.ApplyShared(shared);
    FAIL() << "max_keypoints -2 was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("~max_keypoints"), std::string::npos) << what;
    EXPECT_NE(what.find("-2"), std::string::npos) << what;
  }
  EXPECT_TRUE(ChangedFields(options).empty());  // nothing applied before the error
}

// The registry checks the chosen extractor's options only.
TEST(FeatureExtractorOptions, ChecksOnlyTheChosenExtractorsOptions) {
  FeatureExtractorOptions options;
  options.superpoint.nms_radius = -1;
  options.type = "sift";
  EXPECT_NO_THROW(options.Check());
  options.type = "superpoint";
  EXPECT_THROW(options.Check(), Error);
  options.type = "aliked-n16";
  EXPECT_NO_THROW(options.Check());
  options.aliked.radius = 0;
  EXPECT_THROW(options.Check(), Error);
}

}  // namespace
}  // namespace vigil
