#include "vigil/features/opencv_extractors.h"

#include <algorithm>
#include <numeric>

#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil {
namespace {


// Copies OpenCV keypoints into Features (OpenCV uses the same pixel-centre convention).
void FillKeypoints(const std::vector<cv::KeyPoint>& keypoints, const cv::Mat& image,
                   const std::string& name, Features* features) {
  const int n = static_cast<int>(keypoints.size());
  features->keypoints.resize(n, 2);
  features->scores.resize(n);
  for (int i = 0; i < n; ++i) {
    features->keypoints(i, 0) = keypoints[i].pt.x;
    features->keypoints(i, 1) = keypoints[i].pt.y;
    features->scores(i) = keypoints[i].response;
  }
  features->image_width = image.cols;
  features->image_height = image.rows;
  features->extractor = name;
}

// RootSIFT (Arandjelovic & Zisserman, CVPR 2012): L1-normalise, square root; the result is
// L2-unit, so cosine similarity between RootSIFT vectors is the Hellinger kernel on SIFT.
void ApplyRootSift(DescriptorMatrix* descriptors) {
  for (int i = 0; i < descriptors->rows(); ++i) {
    auto row = descriptors->row(i);
    const float l1 = row.cwiseAbs().sum();
    if (l1 > 0) row = (row / l1).cwiseSqrt();
  }
}

class SiftExtractor : public FeatureExtractor {
 public:
  explicit SiftExtractor(const SiftOptions& options)
      : options_(options),
        sift_(cv::SIFT::create(options.max_keypoints, 3, options.contrast_threshold)) {}

  Features Extract(const cv::Mat& image) override {
    const cv::Mat gray = io::ToGray(image, name());
    std::vector<cv::KeyPoint> keypoints;
    cv::Mat descriptors;
    sift_->detectAndCompute(gray, cv::noArray(), keypoints, descriptors);
    Features features;
    FillKeypoints(keypoints, gray, "sift", &features);
    features.descriptors = DescriptorMatrix::Zero(static_cast<int>(keypoints.size()), 128);
    if (!keypoints.empty()) {
      features.descriptors =
          Eigen::Map<const DescriptorMatrix>(descriptors.ptr<float>(), descriptors.rows, 128);
    }
    if (options_.root_sift) ApplyRootSift(&features.descriptors);
    return features;
  }
  std::string name() const override { return "sift"; }

 private:
  SiftOptions options_;
  cv::Ptr<cv::SIFT> sift_;
};

class OrbExtractor : public FeatureExtractor {
 public:
  explicit OrbExtractor(const OrbOptions& options)
      : orb_(cv::ORB::create(options.max_keypoints, options.scale_factor, options.num_levels)) {}

  Features Extract(const cv::Mat& image) override {
    const cv::Mat gray = io::ToGray(image, name());
    std::vector<cv::KeyPoint> keypoints;
    cv::Mat descriptors;
    orb_->detectAndCompute(gray, cv::noArray(), keypoints, descriptors);
    Features features;
    FillKeypoints(keypoints, gray, "orb", &features);
    features.binary_descriptors = BinaryDescriptorMatrix::Zero(static_cast<int>(keypoints.size()), 32);
    if (!keypoints.empty()) {
      features.binary_descriptors = Eigen::Map<const BinaryDescriptorMatrix>(
          descriptors.ptr<uint8_t>(), descriptors.rows, descriptors.cols);
    }
    return features;
  }
  std::string name() const override { return "orb"; }

 private:
  cv::Ptr<cv::ORB> orb_;
};

}  // namespace

void SiftOptions::Check() const {
  VIGIL_CHECK_OPTION(max_keypoints >= 0, "max_keypoints", "must be >= 0 (0 = all)");
  VIGIL_CHECK_OPTION(contrast_threshold > 0, "contrast_threshold", "must be > 0");
}

void SiftOptions::ApplyShared(const SharedExtractorSettings& settings) {
  if (settings.max_keypoints) max_keypoints = std::max(0, *settings.max_keypoints);
}

void OrbOptions::Check() const {
  VIGIL_CHECK_OPTION(max_keypoints > 0, "max_keypoints", "must be > 0 for ORB");
  VIGIL_CHECK_OPTION(scale_factor > 1.0f, "scale_factor", "must be > 1");
  VIGIL_CHECK_OPTION(num_levels >= 1, "num_levels", "must be >= 1");
}

void OrbOptions::ApplyShared(const SharedExtractorSettings& settings) {
  if (settings.max_keypoints) max_keypoints = *settings.max_keypoints;
}

std::unique_ptr<FeatureExtractor> CreateSiftExtractor(const FeatureExtractorOptions& options) {
  SetCvThreads(options.num_threads);
  return std::make_unique<SiftExtractor>(options.sift);
}

std::unique_ptr<FeatureExtractor> CreateOrbExtractor(const FeatureExtractorOptions& options) {
  SetCvThreads(options.num_threads);
  return std::make_unique<OrbExtractor>(options.orb);
}

}  // namespace vigil
