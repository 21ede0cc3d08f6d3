#include "vigil/matching/matches_io.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "vigil/features/features_io.h"
#include "vigil/util/check.h"
#include "vigil/util/json_reader.h"

namespace vigil::io {
using nlohmann::json;

json MatchesToJson(const std::string& image0, const std::string& image1, const Features& f0,
                   const Features& f1, const Matches& matches) {
  json list = json::array();
  for (size_t i = 0; i < matches.matches0.size(); ++i) {
    const int j = matches.matches0[i];
    if (j < 0) continue;
    json match = {{"i", i},
                  {"j", j},
                  {"x0", f0.keypoints(i, 0)},
                  {"y0", f0.keypoints(i, 1)},
                  {"x1", f1.keypoints(j, 0)},
                  {"y1", f1.keypoints(j, 1)},
                  {"confidence", matches.confidence0[i]}};
    if (!matches.inlier0.empty()) match["inlier"] = matches.inlier0[i] != 0;
    list.push_back(std::move(match));
  }
  return {{"image0", image0},
          {"image1", image1},
          {"keypoints0", KeypointsToJson(f0.keypoints)},
          {"keypoints1", KeypointsToJson(f1.keypoints)},
          {"matches", std::move(list)},
          {"timings_ms", matches.timings_ms}};
}

namespace {

// Keypoints [[x, y], ...] as a float matrix, each coordinate a finite float.
KeypointMatrix KeypointsFromJson(const JsonReader& reader, const json& doc, const std::string& key) {
  const json& list = reader.Field(doc, key);
  VIGIL_CHECK(list.is_array(), "{}: field '{}' must be a list of [x, y]", reader.source(), key);
  KeypointMatrix keypoints(static_cast<Eigen::Index>(list.size()), 2);
  for (size_t k = 0; k < list.size(); ++k) {
    const std::string name = fmt::format("{}[{}]", key, k);
    VIGIL_CHECK(list[k].is_array() && list[k].size() == 2, "{}: field '{}' must be [x, y]",
                reader.source(), name);
    for (int c = 0; c < 2; ++c) {
      const double v = reader.DoubleValue(list[k][c], name);
      VIGIL_CHECK(std::abs(v) <= std::numeric_limits<float>::max(),
                  "{}: field '{}' holds {}, not a float", reader.source(), name, v);
      keypoints(static_cast<Eigen::Index>(k), c) = static_cast<float>(v);
    }
  }
  return keypoints;
}

// A match's optional coordinate must be its keypoint's (to a thousandth of a pixel: the file
// holds the keypoint's own float, printed and read back).
void CheckCoordinate(const JsonReader& reader, const json& match, const char* key, float expected,
                     const std::string& where) {
  if (!match.contains(key)) return;
  const double v = reader.Double(match, key, where);
  VIGIL_CHECK(std::abs(v - expected) <= 1e-3, "{}: field '{}.{}' is {}, but its keypoint's is {}",
              reader.source(), where, key, v, expected);
}

}  // namespace

MatchFile MatchesFromJson(const json& doc, const std::string& source) {
  const JsonReader reader(source);
  VIGIL_CHECK(doc.is_object(), "{}: a matches file must be a JSON object", source);
  MatchFile file;
  file.image0 = reader.String(doc, "image0");
  file.image1 = reader.String(doc, "image1");
  file.features0.keypoints = KeypointsFromJson(reader, doc, "keypoints0");
  file.features1.keypoints = KeypointsFromJson(reader, doc, "keypoints1");
  const int n0 = file.features0.size(), n1 = file.features1.size();
  file.features0.scores = Eigen::VectorXf::Zero(n0);
  file.features1.scores = Eigen::VectorXf::Zero(n1);

  const json& list = reader.Field(doc, "matches");
  VIGIL_CHECK(list.is_array(), "{}: field 'matches' must be a list", source);
  Matches& m = file.matches;
  m.matches0.assign(n0, -1);
  m.confidence0.assign(n0, 0.f);
  std::vector<int> partner1(n1, -1);
  std::vector<uint8_t> inlier(n0, 0);
  size_t with_inlier = 0;
  for (size_t k = 0; k < list.size(); ++k) {
    const std::string where = fmt::format("matches[{}]", k);
    const json& match = list[k];
    VIGIL_CHECK(match.is_object(), "{}: field '{}' must be an object", source, where);
    const auto i = static_cast<int>(reader.IntValue(reader.Field(match, "i", where), where + ".i", 0, n0 - 1));
    const auto j = static_cast<int>(reader.IntValue(reader.Field(match, "j", where), where + ".j", 0, n1 - 1));
    VIGIL_CHECK(m.matches0[i] < 0, "{}: keypoint {} of image 0 is matched twice ({})", source, i, where);
    VIGIL_CHECK(partner1[j] < 0, "{}: keypoint {} of image 1 is matched twice ({})", source, j, where);
    const double confidence = reader.Double(match, "confidence", where);
    VIGIL_CHECK(confidence >= 0 && confidence <= 1, "{}: field '{}.confidence' must be in [0, 1], got {}",
                source, where, confidence);
    CheckCoordinate(reader, match, "x0", file.features0.keypoints(i, 0), where);
    CheckCoordinate(reader, match, "y0", file.features0.keypoints(i, 1), where);
    CheckCoordinate(reader, match, "x1", file.features1.keypoints(j, 0), where);
    CheckCoordinate(reader, match, "y1", file.features1.keypoints(j, 1), where);
    if (match.contains("inlier")) {
      inlier[i] = reader.Bool(match, "inlier", where) ? 1 : 0;
      ++with_inlier;
    }
    m.matches0[i] = j;
    m.confidence0[i] = static_cast<float>(confidence);
    partner1[j] = i;
  }
  VIGIL_CHECK(with_inlier == 0 || with_inlier == list.size(),
              "{}: {} of {} matches have 'inlier'; a verified file has it on every match", source,
              with_inlier, list.size());
  if (with_inlier > 0) m.inlier0 = std::move(inlier);
  FillReverseMatches(n1, &m);
  return file;
}

MatchFile ReadMatches(const std::filesystem::path& path) {
  return MatchesFromJson(ReadJsonFile(path), path.string());
}

}  // namespace vigil::io
