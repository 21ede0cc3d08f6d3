// SuperGlue's own options (the matcher itself: superglue.h). A header of its own, with no vigil
// includes but util/, so that MatcherOptions (matcher.h) can hold it by value while superglue.h includes
// matcher.h; Check() is defined in superglue.cc.
#pragma once

#include <array>
#include <string>

#include "vigil/util/options_fields.h"

namespace vigil {

struct SuperGlueOptions {
  std::string weights;              // superglue_{indoor,outdoor}.pth; empty = search path
  std::string weights_name = "indoor";  // which official file to look for: indoor | outdoor
  int sinkhorn_iterations = 100;    // log-domain Sinkhorn iterations
  float match_threshold = 0.2f;     // keep mutual matches with score > threshold
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("weights", s.weights);
    v("weights_name", s.weights_name);
    v("sinkhorn_iterations", s.sinkhorn_iterations);
    v("match_threshold", s.match_threshold);
  }
  void Check() const;
  // The confidence threshold MatcherOptions::threshold() and set_threshold() reach.
  static constexpr float SuperGlueOptions::*kConfidenceThreshold =
      &SuperGlueOptions::match_threshold;
  // Command-line shorthands (util/options_fields.h OptionFlag).
  static constexpr std::array<OptionFlag, 2> kFlags = {{
      {"sinkhorn-iterations", "sinkhorn_iterations", "SuperGlue Sinkhorn iterations"},
      {"superglue-weights", "weights_name", "which official SuperGlue file to look for: indoor|outdoor"},
  }};
};

}  // namespace vigil
