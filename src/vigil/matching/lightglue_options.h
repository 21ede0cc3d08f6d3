// LightGlue's own options (the matcher itself: lightglue.h). A header of its own, with no vigil
// includes but util/, so that MatcherOptions (matcher.h) can hold it by value while lightglue.h includes
// matcher.h; Check() is defined in lightglue.cc.
#pragma once

#include <array>
#include <string>

#include "vigil/util/options_fields.h"

namespace vigil {

struct LightGlueOptions {
  std::string weights;              // superpoint_lightglue.pth / aliked_lightglue.pth; empty = search path
  float depth_confidence = 0.95f;   // early exit when this fraction of tokens is confident; <0 = off
  float width_confidence = 0.99f;   // point pruning threshold; <0 = off
  float filter_threshold = 0.1f;    // keep mutual matches with score > threshold
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("weights", s.weights);
    v("depth_confidence", s.depth_confidence);
    v("width_confidence", s.width_confidence);
    v("filter_threshold", s.filter_threshold);
  }
  void Check() const;
  // The confidence threshold MatcherOptions::threshold() and set_threshold() reach.
  static constexpr float LightGlueOptions::*kConfidenceThreshold =
      &LightGlueOptions::filter_threshold;
  // Command-line shorthands (util/options_fields.h OptionFlag).
  static constexpr std::array<OptionFlag, 2> kFlags = {{
      {"depth-confidence", "depth_confidence", "LightGlue early-exit confidence (negative = off)"},
      {"width-confidence", "width_confidence", "LightGlue point-pruning confidence (negative = off)"},
  }};
};

}  // namespace vigil
