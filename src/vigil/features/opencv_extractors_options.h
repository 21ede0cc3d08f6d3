// The OpenCV extractors' own options (the extractors themselves: opencv_extractors.h). A header
// of its own, with no vigil includes, so that FeatureExtractorOptions (extractor.h) can hold them
// by value while opencv_extractors.h includes extractor.h; Check() and ApplyShared() are defined
// in opencv_extractors.cc.
#pragma once

namespace vigil {

struct SharedExtractorSettings;  // extractor.h

// OpenCV SIFT. Descriptors are RootSIFT-normalised (L1, sqrt, then L2-unit) when root_sift.
struct SiftOptions {
  int max_keypoints = 4096;          // keep the best n by response; 0 = all
  double contrast_threshold = 0.04;  // OpenCV's contrastThreshold
  bool root_sift = true;             // RootSIFT (Arandjelovic & Zisserman 2012)
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("max_keypoints", s.max_keypoints);
    v("contrast_threshold", s.contrast_threshold);
    v("root_sift", s.root_sift);
  }
  void Check() const;
  // --max-keypoints: -1 (all) becomes SIFT's 0 (all).
  void ApplyShared(const SharedExtractorSettings& settings);
};

// OpenCV ORB (binary, 256 bits).
struct OrbOptions {
  int max_keypoints = 2000;  // ORB's nfeatures
  float scale_factor = 1.2f; // pyramid decimation ratio
  int num_levels = 8;        // pyramid levels
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("max_keypoints", s.max_keypoints);
    v("scale_factor", s.scale_factor);
    v("num_levels", s.num_levels);
  }
  void Check() const;
  // --max-keypoints as nfeatures (ORB has no "all": -1 fails Check when ORB is chosen).
  void ApplyShared(const SharedExtractorSettings& settings);
};

}  // namespace vigil
