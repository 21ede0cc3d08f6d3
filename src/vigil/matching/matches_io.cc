#include "vigil/matching/matches_io.h"

#include "vigil/features/features_io.h"

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

}  // namespace vigil::io
