#include "vigil/matching/matcher.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "vigil/util/check.h"
#include "vigil/util/options_fields.h"

namespace vigil {
namespace {

std::map<std::string, nlohmann::json> Leaves(const MatcherOptions& options) {
  std::map<std::string, nlohmann::json> out;
  ForEachLeafField(options, [&](const std::string& path, const nlohmann::json& v) { out[path] = v; });
  return out;
}

// threshold() and set_threshold() reach the chosen matcher's own threshold field and no other.
TEST(MatcherOptions, ThresholdIsTheChosenMatchersOwnField) {
  const std::map<std::string, std::string> field = {
      {"nn", "nn.threshold"},
      {"superglue", "superglue.match_threshold"},
      {"lightglue", "lightglue.filter_threshold"},
  };
  ASSERT_EQ(MatcherNames().size(), field.size());
  for (const std::string& type : MatcherNames()) {
    MatcherOptions options;
    options.type = type;
    const auto before = Leaves(options);
    EXPECT_FLOAT_EQ(options.threshold(), before.at(field.at(type)).get<float>()) << type;
    options.set_threshold(0.375f);
    EXPECT_FLOAT_EQ(options.threshold(), 0.375f) << type;
    auto after = Leaves(options);
    EXPECT_FLOAT_EQ(after.at(field.at(type)).get<float>(), 0.375f) << type;
    after[field.at(type)] = before.at(field.at(type));
    EXPECT_EQ(after, before) << type << ": set_threshold changed another field";
  }
}

// Each matcher's declared shorthands reach the one field they name in its own options: the
// path the front ends bind (registry name + field) exists, and setting it changes that field
// and no other. The names are unique, since they share one command line.
TEST(MatcherOptions, DeclaredShorthandsReachTheirOwnField) {
  const std::map<std::string, std::string> expected = {
      {"ratio", "nn.ratio"},
      {"sinkhorn-iterations", "superglue.sinkhorn_iterations"},
      {"superglue-weights", "superglue.weights_name"},
      {"depth-confidence", "lightglue.depth_confidence"},
      {"width-confidence", "lightglue.width_confidence"},
  };
  std::map<std::string, std::string> declared;
  for (const PluginFlag& f : MatcherPluginFlags()) {
    EXPECT_TRUE(declared.emplace(f.name, f.path).second) << "--" << f.name << " declared twice";
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_EQ(declared, expected);
  for (const auto& [name, path] : declared) {
    MatcherOptions options;
    const auto before = Leaves(options);
    const std::string value = before.at(path).is_string() ? "outdoor" : "0.25";
    SetOptionField(&options, path + "=" + value, "--" + name);
    auto after = Leaves(options);
    EXPECT_NE(after.at(path), before.at(path)) << name;
    after[path] = before.at(path);
    EXPECT_EQ(after, before) << "--" << name << " changed another field";
  }
}

TEST(MatcherOptions, UnknownMatcherHasNoThresholdToSet) {
  MatcherOptions options;
  options.type = "flann";
  EXPECT_FLOAT_EQ(options.threshold(), options.nn.threshold);
  try {
    options.set_threshold(0.5f);
    FAIL() << "set_threshold accepted an unknown matcher";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'flann'"), std::string::npos) << e.what();
  }
}

TEST(MatcherOptions, ChecksOnlyTheChosenMatchersOptions) {
  MatcherOptions options;
  options.superglue.match_threshold = 2.f;
  EXPECT_NO_THROW(options.Check());  // nn
  options.type = "superglue";
  EXPECT_THROW(options.Check(), Error);
  options.type = "lightglue";
  EXPECT_NO_THROW(options.Check());
  options.lightglue.filter_threshold = -0.5f;
  EXPECT_THROW(options.Check(), Error);
}

}  // namespace
}  // namespace vigil
