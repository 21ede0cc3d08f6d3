// The matches.json that `vigil match` writes:
//   {"image0", "image1", "keypoints0": [[x, y], ...], "keypoints1": [...],
//    "matches": [{"i", "j", "x0", "y0", "x1", "y1", "confidence"[, "inlier"]}],
//    "timings_ms": {...}}
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil::io {

nlohmann::json MatchesToJson(const std::string& image0, const std::string& image1,
                             const Features& features0, const Features& features1,
                             const Matches& matches);

}  // namespace vigil::io
