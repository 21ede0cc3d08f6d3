// The result every matcher returns (mutual NN, SuperGlue, LightGlue): for each keypoint i of
// image 0 its partner j in image 1 or -1, and a confidence in [0, 1] (higher = more certain).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vigil {

struct Matches {
  std::vector<int> matches0;        // size N0: partner in image 1, or -1
  std::vector<int> matches1;        // size N1: partner in image 0, or -1 (consistent with matches0)
  std::vector<float> confidence0;   // size N0: confidence of matches0[i] (0 when unmatched)
  std::vector<float> confidence1;   // size N1
  std::vector<uint8_t> inlier0;     // size N0 after geometric verification, else empty
  std::map<std::string, double> timings_ms;  // per-stage timings filled by the matcher

  int num_matches() const {
    int n = 0;
    for (int j : matches0) n += j >= 0;
    return n;
  }
};

// Builds matches1/confidence1 from matches0/confidence0 (n1 = keypoints in image 1).
void FillReverseMatches(int n1, Matches* matches);

}  // namespace vigil
