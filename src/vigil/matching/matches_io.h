// The matches.json that `vigil match` writes, and reads back with `--matches` (to verify again
// without matching again, also for matches made by another tool in this format):
//   {"image0", "image1", "keypoints0": [[x, y], ...], "keypoints1": [...],
//    "matches": [{"i", "j", "x0", "y0", "x1", "y1", "confidence"[, "inlier"]}],
//    "timings_ms": {...}}
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil::io {

nlohmann::json MatchesToJson(const std::string& image0, const std::string& image1,
                             const Features& features0, const Features& features1,
                             const Matches& matches);

// A matches.json as read back. A match file holds keypoints but no descriptors or scores, which
// is all that geometric verification and drawing need.
struct MatchFile {
  std::string image0, image1;     // as written (paths or features files)
  Features features0, features1;  // keypoints only (scores 0, no descriptors, size unknown)
  Matches matches;                // matches0/1 and confidence0/1; inlier0 when the file has them
};

// Reads a matches document; `source` names it in errors (the file). Throws vigil::Error naming
// the source and the field on anything but a consistent file: keypoints that are not pairs of
// finite floats, a match index outside its keypoint list, a keypoint matched twice (every
// matcher returns a one-to-one matching), a confidence outside [0, 1], match coordinates that
// are not their keypoints' (x0..y1, when present), "inlier" on some matches only, "image0" or
// "image1" missing or not text. "timings_ms" is not read.
MatchFile MatchesFromJson(const nlohmann::json& doc, const std::string& source);
// The same for a file: also names it when it is missing or not JSON.
MatchFile ReadMatches(const std::filesystem::path& path);

}  // namespace vigil::io
