#include "vigil/matching/matcher.h"

#include <functional>
#include <map>

#include <fmt/ranges.h>

#include "vigil/matching/lightglue.h"
#include "vigil/matching/nearest_neighbor.h"
#include "vigil/matching/superglue.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

// A plain function pointer, so overloaded creators resolve by type.
using Creator = std::unique_ptr<Matcher> (*)(const MatcherOptions&);

// One entry per matcher: how to create it and how to check its own options.
struct Plugin {
  Creator create;
  void (*check)(const MatcherOptions&);
};

// The factory table: one line per matcher.
const std::map<std::string, Plugin>& Registry() {
  static const std::map<std::string, Plugin> registry = {
      {"nn", {CreateNearestNeighborMatcher, [](const MatcherOptions& o) { o.nn.Check(); }}},
      {"superglue", {CreateSuperGlueMatcher, [](const MatcherOptions& o) { o.superglue.Check(); }}},
      {"lightglue", {CreateLightGlueMatcher, [](const MatcherOptions& o) { o.lightglue.Check(); }}},
  };
  return registry;
}

}  // namespace

void NearestNeighborOptions::Check() const {
  VIGIL_CHECK_OPTION(threshold >= 0 && threshold < 1, "threshold", "must be in [0, 1)");
  VIGIL_CHECK_OPTION(ratio > 0 && ratio <= 1, "ratio", "must be in (0, 1]");
}

void SuperGlueOptions::Check() const {
  VIGIL_CHECK_OPTION(weights_name == "indoor" || weights_name == "outdoor", "superglue.weights_name",
                     "must be indoor or outdoor");
  VIGIL_CHECK_OPTION(sinkhorn_iterations >= 0, "sinkhorn_iterations", "must be >= 0");
  VIGIL_CHECK_OPTION(match_threshold >= 0 && match_threshold < 1, "match_threshold",
                     "must be in [0, 1)");
}

void LightGlueOptions::Check() const {
  VIGIL_CHECK_OPTION(depth_confidence < 0 || depth_confidence <= 1, "depth_confidence",
                     "must be in [0, 1] or negative (off)");
  VIGIL_CHECK_OPTION(width_confidence < 0 || width_confidence <= 1, "width_confidence",
                     "must be in [0, 1] or negative (off)");
  VIGIL_CHECK_OPTION(filter_threshold >= 0 && filter_threshold < 1, "filter_threshold",
                     "must be in [0, 1)");
}

float MatcherOptions::threshold() const {
  if (type == "superglue") return superglue.match_threshold;
  if (type == "lightglue") return lightglue.filter_threshold;
  return nn.threshold;
}

void MatcherOptions::set_threshold(float value) {
  if (type == "superglue") {
    superglue.match_threshold = value;
  } else if (type == "lightglue") {
    lightglue.filter_threshold = value;
  } else if (type == "nn") {
    nn.threshold = value;
  } else {
    // Setting another matcher's field instead would change a result without saying so.
    ThrowError(fmt::format("option threshold: matcher '{}' has no confidence threshold", type));
  }
}

void MatcherOptions::Check() const {
  VIGIL_CHECK_OPTION(Registry().count(type) != 0, "matcher",
                     fmt::format("unknown matcher '{}' (known: {})", type,
                                 fmt::join(MatcherNames(), ", ")));
  VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
  Registry().at(type).check(*this);
}

std::vector<std::string> MatcherNames() {
  std::vector<std::string> names;
  for (const auto& [name, creator] : Registry()) names.push_back(name);
  return names;
}

std::unique_ptr<Matcher> Matcher::Create(const MatcherOptions& options) {
  options.Check();
  return Registry().at(options.type).create(options);
}

Matches FilterMatchesByConfidence(const Matches& matches, float threshold) {
  Matches filtered = matches;
  filtered.inlier0.clear();
  for (size_t i = 0; i < filtered.matches0.size(); ++i) {
    if (filtered.matches0[i] >= 0 && !(filtered.confidence0[i] > threshold)) {
      filtered.matches0[i] = -1;
      filtered.confidence0[i] = 0.0f;
    }
  }
  if (!matches.inlier0.empty()) {
    filtered.inlier0 = matches.inlier0;
    for (size_t i = 0; i < filtered.matches0.size(); ++i) {
      if (filtered.matches0[i] < 0) filtered.inlier0[i] = 0;
    }
  }
  FillReverseMatches(static_cast<int>(matches.matches1.size()), &filtered);
  return filtered;
}

}  // namespace vigil
