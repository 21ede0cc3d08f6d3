// Bags where a run folder is expected (`vigil inspect --reference BAG --query BAG`): the
// bag-extract options, and the extraction into a folder beside the command's outputs.
// Only compiled with VIGIL_ENABLE_ROS (implemented in commands/bag_extract.cc).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace vigil::cli {

struct BagInputFlags {
  std::string image_topic;
  std::string pose_topic;
  std::vector<std::string> tf_frames;  // FIXED CHILD
  double min_distance_m = 0;
};
// --image-topic, --pose-topic, --tf-frames, --min-distance (used only for .bag inputs).
void AddBagInputOptions(CLI::App& app, BagInputFlags& flags);

// `path` itself when it is a folder or an image file; for a .bag file, the run folder <out_dir>/bag_runs/<role>
// extracted from it (extracted once: an existing folder is reused, so re-runs resume).
std::string RunFolderFor(const std::string& path, const BagInputFlags& flags,
                         const std::string& out_dir, const std::string& role);

}  // namespace vigil::cli
