#include "vigil/matching/matcher.h"

#include <functional>
#include <map>
#include <type_traits>
#include <utility>

#include <fmt/ranges.h>

#include "vigil/matching/lightglue.h"
#include "vigil/matching/nearest_neighbor.h"
#include "vigil/matching/superglue.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

// A plain function pointer, so overloaded creators resolve by type.
using Creator = std::unique_ptr<Matcher> (*)(const MatcherOptions&);

// One entry per matcher: how to create it, how to check its own options and where its
// confidence threshold is, so that no MatcherOptions member has a per-matcher branch.
struct Plugin {
  Creator create;
  void (*check)(const MatcherOptions&);
  float (*threshold)(const MatcherOptions&);
  void (*set_threshold)(MatcherOptions&, float);
  std::vector<OptionFlag> flags;  // its options' declared shorthands (kFlags), maybe none
};

// The entry of the matcher whose options are MatcherOptions::*Member: its Check() and the field
// its options struct names kConfidenceThreshold (every matcher has one, matcher.h).
template <auto Member>
Plugin Entry(Creator create) {
  using Options = std::decay_t<decltype(std::declval<MatcherOptions&>().*Member)>;
  return {create, [](const MatcherOptions& o) { (o.*Member).Check(); },
          [](const MatcherOptions& o) { return (o.*Member).*Options::kConfidenceThreshold; },
          [](MatcherOptions& o, float value) {
            (o.*Member).*Options::kConfidenceThreshold = value;
          },
          DeclaredFlags<Options>::Get()};
}

// The factory table: one line per matcher. The name is also its member's name in
// MatcherOptions::Fields, which MatcherPluginFlags() relies on (tested).
const std::map<std::string, Plugin>& Registry() {
  static const std::map<std::string, Plugin> registry = {
      {"nn", Entry<&MatcherOptions::nn>(CreateNearestNeighborMatcher)},
      {"superglue", Entry<&MatcherOptions::superglue>(CreateSuperGlueMatcher)},
      {"lightglue", Entry<&MatcherOptions::lightglue>(CreateLightGlueMatcher)},
  };
  return registry;
}

}  // namespace

float MatcherOptions::threshold() const {
  const auto it = Registry().find(type);
  // An unknown type fails Check(); until then it reads as the default matcher's.
  return it != Registry().end() ? it->second.threshold(*this) : nn.threshold;
}

void MatcherOptions::set_threshold(float value) {
  const auto it = Registry().find(type);
  // Setting another matcher's field instead would change a result without saying so.
  VIGIL_CHECK(it != Registry().end(), "option threshold: matcher '{}' has no confidence threshold",
              type);
  it->second.set_threshold(*this, value);
}

void MatcherOptions::Check() const {
  VIGIL_CHECK_OPTION(Registry().count(type) != 0, "matcher",
                     fmt::format("unknown matcher '{}' (known: {})", type,
                                 fmt::join(MatcherNames(), ", ")));
  VIGIL_CHECK_OPTION(num_threads >= 1, "num_threads", "must be >= 1");
  Registry().at(type).check(*this);
}

std::vector<PluginFlag> MatcherPluginFlags() {
  std::vector<PluginFlag> out;
  for (const auto& [name, plugin] : Registry()) {
    for (const OptionFlag& f : plugin.flags) {
      out.push_back({f.name, name + "." + f.field, f.help, name, f.letter});
    }
  }
  return out;
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
