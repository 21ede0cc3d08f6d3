// Where vigil finds model weights. Weights are never bundled: users fetch the official files
// (see README, "Models") and vigil searches, in order:
//   1. the path given on the command line (--weights / --matcher-weights / --backbone),
//   2. every folder in $VIGIL_MODELS (colon-separated), then $VIGIL_SHARED_DIR/models when set,
//   3. ./models, then ../shared/models (relative to the working directory).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace vigil {

// A model file vigil knows by a relative name, e.g. "superpoint/superpoint_v1.pth".
struct ModelSpec {
  std::vector<std::string> relative_paths;  // candidates tried in each folder, in order
  std::string description;                  // e.g. "SuperPoint weights"
  std::string official_source;              // where the official file is published
};

// The folders of steps 2 and 3 above, in search order.
std::vector<std::filesystem::path> ModelSearchDirs();

// Returns the explicit path when non-empty (it must exist), else the first candidate found in
// ModelSearchDirs(). Throws vigil::Error listing every path tried and the official source.
std::filesystem::path FindModelFile(const std::string& explicit_path, const ModelSpec& spec);

}  // namespace vigil
