// The FeatureExtractor interface: one image in, keypoints + descriptors out (features/types.h).
// Implementations: SuperPoint (superpoint.h), ALIKED (aliked.h), SIFT and ORB through OpenCV
// (opencv_extractors.h). Adding one = a new file pair + one line in extractor.cc's table.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"

namespace vigil {

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
};

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
};

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
};

struct FeatureExtractorOptions {
  std::string type = "superpoint";  // a name from FeatureExtractorNames()
  int num_threads = 2;              // CPU threads for inference
  SuperPointOptions superpoint;
  AlikedOptions aliked;  // aliked.model is set from `type` for aliked-* names
  SiftOptions sift;
  OrbOptions orb;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("type", s.type);
    v("num_threads", s.num_threads);
    v("superpoint", s.superpoint);
    v("aliked", s.aliked);
    v("sift", s.sift);
    v("orb", s.orb);
  }
  void Check() const;
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  // `image`: 8-bit, 1 or 3 channels (BGR, as cv::imread gives). Each extractor converts it as its
  // reference implementation does (SuperPoint: gray / 255; ALIKED: RGB / 255).
  virtual Features Extract(const cv::Mat& image) = 0;
  virtual std::string name() const = 0;

  // Throws vigil::Error on an unknown type (listing the known ones) or bad options/weights.
  static std::unique_ptr<FeatureExtractor> Create(const FeatureExtractorOptions& options);

  // The model files this instance loaded (weights, graphs), for the configuration identity:
  // a result computed with other weights must not be taken for this one's.
  const std::vector<std::filesystem::path>& model_files() const { return model_files_; }
  void set_model_files(std::vector<std::filesystem::path> files) { model_files_ = std::move(files); }

 private:
  std::vector<std::filesystem::path> model_files_;
};

// Names accepted by FeatureExtractorOptions::type.
std::vector<std::string> FeatureExtractorNames();

}  // namespace vigil
