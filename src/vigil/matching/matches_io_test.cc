#include "vigil/matching/matches_io.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil::io {
namespace {
using nlohmann::json;
using testing::ErrorOf;

// Three keypoints in image 0, four in image 1; 0 -> 2 and 2 -> 0 matched, 1 unmatched.
struct Pair {
  Features f0, f1;
  Matches m;
  Pair() {
    f0.keypoints.resize(3, 2);
    f0.keypoints << 10.25f, 20.5f, 30, 40, 123.456f, 7.125f;
    f1.keypoints.resize(4, 2);
    f1.keypoints << 1, 2, 3, 4, 5.5f, 6.75f, 640, 480;
    m.matches0 = {2, -1, 0};
    m.confidence0 = {0.9f, 0.f, 0.3f};
    FillReverseMatches(4, &m);
  }
};

// What `vigil match` writes reads back as the same matching: keypoints, partners both ways,
// confidences, and the inlier flags when verified.
TEST(MatchesIo, WrittenMatchesReadBackUnchanged) {
  Pair p;
  p.m.inlier0 = {1, 0, 0};
  const MatchFile file = MatchesFromJson(MatchesToJson("a.png", "b.png", p.f0, p.f1, p.m), "m.json");
  EXPECT_EQ(file.image0, "a.png");
  EXPECT_EQ(file.image1, "b.png");
  EXPECT_EQ(file.features0.keypoints, p.f0.keypoints);
  EXPECT_EQ(file.features1.keypoints, p.f1.keypoints);
  EXPECT_EQ(file.features0.scores.size(), 3);
  EXPECT_EQ(file.matches.matches0, p.m.matches0);
  EXPECT_EQ(file.matches.matches1, p.m.matches1);
  EXPECT_EQ(file.matches.confidence0, p.m.confidence0);
  EXPECT_EQ(file.matches.confidence1, p.m.confidence1);
  EXPECT_EQ(file.matches.inlier0, p.m.inlier0);
  // Unverified: no inlier flags.
  Pair q;
  EXPECT_TRUE(MatchesFromJson(MatchesToJson("a", "b", q.f0, q.f1, q.m), "m").matches.inlier0.empty());
}

// Every inconsistency is an error naming the file and the field, never a matching that differs
// from what the file says.
TEST(MatchesIo, InconsistentFilesAreNamed) {
  Pair p;
  p.m.inlier0 = {1, 0, 0};
  const json good = MatchesToJson("a.png", "b.png", p.f0, p.f1, p.m);
  auto error_of = [](const json& doc) { return ErrorOf([&] { MatchesFromJson(doc, "m.json"); }); };
  const std::vector<std::pair<std::function<void(json&)>, std::vector<std::string>>> cases = {
      {[](json& d) { d.erase("image1"); }, {"image1"}},
      {[](json& d) { d["keypoints0"][1] = {1}; }, {"keypoints0[1]"}},
      {[](json& d) { d["keypoints1"][0][0] = 1e300; }, {"keypoints1[0]", "float"}},
      {[](json& d) { d["keypoints0"] = "x"; }, {"keypoints0"}},
      {[](json& d) { d["matches"][0]["i"] = 3; }, {"matches[0].i", "[0, 2]"}},
      {[](json& d) { d["matches"][1]["j"] = -1; }, {"matches[1].j"}},
      {[](json& d) { d["matches"][1]["j"] = 2; }, {"image 1", "twice", "matches[1]"}},
      {[](json& d) { d["matches"][1]["i"] = 0; }, {"image 0", "twice"}},
      {[](json& d) { d["matches"][0]["confidence"] = 2; }, {"matches[0].confidence", "[0, 1]"}},
      {[](json& d) { d["matches"][0].erase("confidence"); }, {"confidence"}},
      {[](json& d) { d["matches"][0]["x1"] = 99; }, {"matches[0].x1", "keypoint"}},
      {[](json& d) { d["matches"][1].erase("inlier"); }, {"1 of 2", "inlier"}},
      {[](json& d) { d["matches"][0]["inlier"] = 1; }, {"matches[0].inlier"}},
      {[](json& d) { d = json::array(); }, {"object"}},
  };
  for (const auto& [edit, needles] : cases) {
    json doc = good;
    edit(doc);
    const std::string error = error_of(doc);
    EXPECT_NE(error.find("m.json"), std::string::npos) << doc.dump();
    for (const std::string& needle : needles) {
      EXPECT_NE(error.find(needle), std::string::npos) << "'" << needle << "' not in: " << error;
    }
  }
}

}  // namespace
}  // namespace vigil::io
