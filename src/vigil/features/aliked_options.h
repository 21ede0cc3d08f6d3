// ALIKED's own options (the extractor itself: aliked.h). A header of its own, with no vigil
// includes, so that FeatureExtractorOptions (extractor.h) can hold it by value while aliked.h
// includes extractor.h; Check() and ApplyShared() are defined in aliked.cc.
#pragma once

#include <string>

namespace vigil {

struct SharedExtractorSettings;  // extractor.h

// ALIKED (Zhao et al., 2023). Two detection modes: top_k > 0 keeps the k best keypoints;
// otherwise every keypoint scoring above scores_th, at most n_limit.
struct AlikedOptions {
  std::string model = "aliked-n16";  // aliked-t16 | aliked-n16 | aliked-n16rot | aliked-n32
  std::string weights;               // .pth path; empty = weights search path
  int top_k = -1;                    // keypoints to keep by score; <= 0 = threshold mode
  float scores_th = 0.2f;            // score threshold in threshold mode
  int n_limit = 5000;                // maximum keypoints in threshold mode
  int radius = 2;                    // DKD NMS radius, pixels
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("model", s.model);
    v("weights", s.weights);
    v("top_k", s.top_k);
    v("scores_th", s.scores_th);
    v("n_limit", s.n_limit);
    v("radius", s.radius);
  }
  void Check() const;
  // Maps the front ends' --weights, --max-keypoints (top_k), --keypoint-threshold (scores_th)
  // and --nms-radius (radius) onto these options (FeatureExtractorOptions::ApplyShared).
  void ApplyShared(const SharedExtractorSettings& settings);
};

}  // namespace vigil
