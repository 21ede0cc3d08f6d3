// SuperPoint's own options (the extractor itself: superpoint.h). A header of its own, with no
// vigil includes, so that FeatureExtractorOptions (extractor.h) can hold it by value while
// superpoint.h includes extractor.h; Check() and ApplyShared() are defined in superpoint.cc.
#pragma once

#include <string>

namespace vigil {

struct SharedExtractorSettings;  // extractor.h

// SuperPoint as in the SuperGlue authors' release (Magic Leap). Defaults are the reference ones.
struct SuperPointOptions {
  std::string weights;               // .pth path; empty = weights search path (util/model_path.h)
  int nms_radius = 4;                // non-maximum suppression radius, pixels
  float keypoint_threshold = 0.005f; // minimum detector score
  int max_keypoints = -1;            // keep the top-k by score; -1 = all
  int remove_borders = 4;            // drop keypoints closer than this to the border, pixels
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("weights", s.weights);
    v("nms_radius", s.nms_radius);
    v("keypoint_threshold", s.keypoint_threshold);
    v("max_keypoints", s.max_keypoints);
    v("remove_borders", s.remove_borders);
  }
  void Check() const;
  // Maps the front ends' --weights, --max-keypoints, --keypoint-threshold, --nms-radius onto
  // these options (FeatureExtractorOptions::ApplyShared calls it).
  void ApplyShared(const SharedExtractorSettings& settings);
};

}  // namespace vigil
