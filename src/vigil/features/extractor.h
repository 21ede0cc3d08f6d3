// The FeatureExtractor interface: one image in, keypoints + descriptors out (features/types.h).
// Implementations: SuperPoint (superpoint.h), ALIKED (aliked.h), SIFT and ORB through OpenCV
// (opencv_extractors.h). Each keeps its options struct in its own <name>_options.h and defines
// that struct's Check() (and ApplyShared(), if it takes shared settings) in its own .cc; adding
// one is that file set plus one member below and one line in extractor.cc's table
// (docs/architecture.md, "Adding a plugin").
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/aliked_options.h"
#include "vigil/features/opencv_extractors_options.h"
#include "vigil/features/superpoint_options.h"
#include "vigil/features/types.h"

namespace vigil {

// Settings that every front end offers for whichever extractor is chosen (the CLI's
// --weights, --max-keypoints, --keypoint-threshold, --nms-radius; the ROS node's
// ~max_keypoints). Each extractor maps them onto its own options in its own ApplyShared();
// FeatureExtractorOptions::ApplyShared() applies them to every extractor's options, so the CLI
// and the ROS node cannot map them differently. An unset setting leaves the defaults.
struct SharedExtractorSettings {
  std::optional<std::string> weights;       // weights file of extractors that load one; "" = search
  std::optional<int> max_keypoints;         // keep the best n keypoints; -1 = all
  std::optional<float> keypoint_threshold;  // detector score threshold
  std::optional<int> nms_radius;            // non-maximum suppression radius, pixels
  // How the front end spells max_keypoints ("--max-keypoints", "~max_keypoints"), for the error.
  std::string max_keypoints_option = "max_keypoints";
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
  // settings.Check(), then each extractor's options (every one, not only `type`'s: the
  // configuration identity holds them all) that has ApplyShared() takes the settings.
  void ApplyShared(const SharedExtractorSettings& settings);
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
