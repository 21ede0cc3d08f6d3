// Mutual nearest-neighbour matching with an optional Lowe ratio test (Lowe, IJCV 2004).
// Distances are computed exactly with blocked GEMMs (||a||^2 + ||b||^2 - 2 a.b), so memory
// stays O(block x N1) for any number of keypoints.
#pragma once

#include <memory>

#include "vigil/matching/matcher.h"
#include "vigil/matching/nearest_neighbor_options.h"

namespace vigil {

std::unique_ptr<Matcher> CreateNearestNeighborMatcher(const MatcherOptions& options);

// The matcher itself, usable without the factory.
Matches MatchNearestNeighbors(const Features& features0, const Features& features1,
                              const NearestNeighborOptions& options);

}  // namespace vigil
