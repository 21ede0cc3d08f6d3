// The nearest-neighbour matcher's own options (the matcher itself: nearest_neighbor.h). A header
// of its own, with no vigil includes but util/, so that MatcherOptions (matcher.h) can hold it by value
// while nearest_neighbor.h includes matcher.h; Check() is defined in nearest_neighbor.cc.
#pragma once

#include <array>

#include "vigil/util/options_fields.h"

namespace vigil {

// Mutual nearest neighbour on descriptor similarity. Confidence of a float-descriptor match is
// the cosine similarity of the two (L2-normalised) descriptors clamped to [0, 1]; for binary
// descriptors it is 1 - hamming / bits. Both are monotone in descriptor similarity.
struct NearestNeighborOptions {
  float threshold = 0.0f;  // keep matches with confidence > threshold, in [0, 1)
  float ratio = 1.0f;      // Lowe ratio test on distances: keep if d1 < ratio * d2; 1 = off
  bool mutual = true;      // require i -> j and j -> i
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("threshold", s.threshold);
    v("ratio", s.ratio);
    v("mutual", s.mutual);
  }
  void Check() const;
  // The confidence threshold MatcherOptions::threshold() and set_threshold() reach.
  static constexpr float NearestNeighborOptions::*kConfidenceThreshold =
      &NearestNeighborOptions::threshold;
  // Command-line shorthands (util/options_fields.h OptionFlag).
  static constexpr std::array<OptionFlag, 1> kFlags = {{{"ratio", "ratio", "Lowe ratio test for nn (1 = off)"}}};
};

}  // namespace vigil
