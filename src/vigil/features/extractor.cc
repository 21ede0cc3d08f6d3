#include "vigil/features/extractor.h"

#include <functional>
#include <map>
#include <type_traits>
#include <utility>

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

// The entry of the extractor whose options are FeatureExtractorOptions::*Member.
template <auto Member>
Plugin Entry(Creator create) {
  return {create, [](const FeatureExtractorOptions& o) { (o.*Member).Check(); }};
}

// The factory table: one line per extractor name.
const std::map<std::string, Plugin>& Registry() {
  static const std::map<std::string, Plugin> registry = {
      {"superpoint", Entry<&FeatureExtractorOptions::superpoint>(CreateSuperPointExtractor)},
      {"sift", Entry<&FeatureExtractorOptions::sift>(CreateSiftExtractor)},
      {"orb", Entry<&FeatureExtractorOptions::orb>(CreateOrbExtractor)},
      // One network, four published models: Create sets aliked.model from the name.
      {"aliked-t16", Entry<&FeatureExtractorOptions::aliked>(CreateAlikedExtractor)},
      {"aliked-n16", Entry<&FeatureExtractorOptions::aliked>(CreateAlikedExtractor)},
      {"aliked-n16rot", Entry<&FeatureExtractorOptions::aliked>(CreateAlikedExtractor)},
      {"aliked-n32", Entry<&FeatureExtractorOptions::aliked>(CreateAlikedExtractor)},
  };
  return registry;
}

// Whether an extractor's options struct maps the shared settings (has ApplyShared()).
template <class T, class = void>
struct TakesSharedSettings : std::false_type {};
template <class T>
struct TakesSharedSettings<T, std::void_t<decltype(std::declval<T&>().ApplyShared(
                                  std::declval<const SharedExtractorSettings&>()))>>
    : std::true_type {};

}  // namespace

void SharedExtractorSettings::Check() const {
  // Below -1 is meaningless for every extractor (-1 = all), including those that clamp it.
  VIGIL_CHECK_OPTION(!max_keypoints || *max_keypoints >= -1, max_keypoints_option,
                     fmt::format("must be -1 (all) or >= 0, got {}", max_keypoints.value_or(0)));
}

void FeatureExtractorOptions::ApplyShared(const SharedExtractorSettings& settings) {
  settings.Check();
  // The members come from Fields(), so an extractor added there with an ApplyShared() of its own
  // takes the settings without a line here.
  Fields(*this, [&](const char*, auto& member) {
    if constexpr (TakesSharedSettings<std::decay_t<decltype(member)>>::value) {
      member.ApplyShared(settings);
    }
  });
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
