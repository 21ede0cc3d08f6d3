#include "vigil/features/extractor.h"

#include <functional>
#include <map>

#include <fmt/ranges.h>

#include "vigil/features/aliked.h"
#include "vigil/features/opencv_extractors.h"
#include "vigil/features/superpoint.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

// A plain function pointer, so overloaded creators (e.g. one taking a StateDict) resolve by type.
using Creator = std::unique_ptr<FeatureExtractor> (*)(const FeatureExtractorOptions&);

// One entry per extractor: how to create it and how to check its own options, so that neither
// Create nor Check has a per-extractor branch.
struct Plugin {
  Creator create;
  void (*check)(const FeatureExtractorOptions&);
};

// The factory table: one line per extractor.
const std::map<std::string, Plugin>& Registry() {
  static const auto aliked = [](const FeatureExtractorOptions& o) { o.aliked.Check(); };
  static const std::map<std::string, Plugin> registry = {
      {"superpoint", {CreateSuperPointExtractor, [](const FeatureExtractorOptions& o) { o.superpoint.Check(); }}},
      {"sift", {CreateSiftExtractor, [](const FeatureExtractorOptions& o) { o.sift.Check(); }}},
      {"orb", {CreateOrbExtractor, [](const FeatureExtractorOptions& o) { o.orb.Check(); }}},
      {"aliked-t16", {CreateAlikedExtractor, aliked}},
      {"aliked-n16", {CreateAlikedExtractor, aliked}},
      {"aliked-n16rot", {CreateAlikedExtractor, aliked}},
      {"aliked-n32", {CreateAlikedExtractor, aliked}},
  };
  return registry;
}

}  // namespace

void SuperPointOptions::Check() const {
  VIGIL_CHECK_OPTION(nms_radius >= 0, "nms_radius", "must be >= 0");
  VIGIL_CHECK_OPTION(keypoint_threshold >= 0 && keypoint_threshold <= 1, "keypoint_threshold",
                     "must be in [0, 1]");
  VIGIL_CHECK_OPTION(max_keypoints == -1 || max_keypoints >= 0, "max_keypoints",
                     "must be -1 (all) or >= 0");
  VIGIL_CHECK_OPTION(remove_borders >= 0, "remove_borders", "must be >= 0");
}

void AlikedOptions::Check() const {
  VIGIL_CHECK_OPTION(model == "aliked-t16" || model == "aliked-n16" || model == "aliked-n16rot" ||
                         model == "aliked-n32",
                     "aliked.model", "must be aliked-t16, aliked-n16, aliked-n16rot or aliked-n32");
  VIGIL_CHECK_OPTION(scores_th >= 0 && scores_th <= 1, "scores_th", "must be in [0, 1]");
  VIGIL_CHECK_OPTION(n_limit > 0, "n_limit", "must be > 0");
  VIGIL_CHECK_OPTION(radius >= 1, "radius", "must be >= 1");
}

void SiftOptions::Check() const {
  VIGIL_CHECK_OPTION(max_keypoints >= 0, "max_keypoints", "must be >= 0 (0 = all)");
  VIGIL_CHECK_OPTION(contrast_threshold > 0, "contrast_threshold", "must be > 0");
}

void OrbOptions::Check() const {
  VIGIL_CHECK_OPTION(max_keypoints > 0, "max_keypoints", "must be > 0 for ORB");
  VIGIL_CHECK_OPTION(scale_factor > 1.0f, "scale_factor", "must be > 1");
  VIGIL_CHECK_OPTION(num_levels >= 1, "num_levels", "must be >= 1");
}

void FeatureExtractorOptions::Check() const {
  VIGIL_CHECK_OPTION(Registry().count(type) != 0, "extractor",
                     fmt::format("unknown extractor '{}' (known: {})", type,
                                 fmt::join(FeatureExtractorNames(), ", ")));
  VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
  Registry().at(type).check(*this);
}

std::vector<std::string> FeatureExtractorNames() {
  std::vector<std::string> names;
  for (const auto& [name, creator] : Registry()) names.push_back(name);
  return names;
}

std::unique_ptr<FeatureExtractor> FeatureExtractor::Create(const FeatureExtractorOptions& options) {
  FeatureExtractorOptions resolved = options;
  if (resolved.type.rfind("aliked-", 0) == 0) resolved.aliked.model = resolved.type;
  resolved.Check();
  return Registry().at(resolved.type).create(resolved);
}

}  // namespace vigil
