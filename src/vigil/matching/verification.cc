#include "vigil/matching/verification.h"

#include <opencv2/calib3d.hpp>

#include "vigil/util/check.h"

namespace vigil {

void VerificationOptions::Check() const {
  VIGIL_CHECK_OPTION(method == "homography" || method == "fundamental" || method == "none",
                     "verify", "must be homography, fundamental or none");
  VIGIL_CHECK_OPTION(max_error_px > 0, "max_error_px", "must be > 0");
  VIGIL_CHECK_OPTION(confidence > 0 && confidence < 1, "confidence", "must be in (0, 1)");
  VIGIL_CHECK_OPTION(max_iterations > 0, "max_iterations", "must be > 0");
}

VerificationReport VerifyMatches(const Features& features0, const Features& features1,
                                 const VerificationOptions& options, Matches* matches) {
  options.Check();
  VerificationReport report;
  matches->inlier0.assign(matches->matches0.size(), 0);
  if (options.method == "none") return report;
  std::vector<cv::Point2f> points0, points1;
  std::vector<int> index0;
  for (size_t i = 0; i < matches->matches0.size(); ++i) {
    const int j = matches->matches0[i];
    if (j < 0) continue;
    points0.emplace_back(features0.keypoints(i, 0), features0.keypoints(i, 1));
    points1.emplace_back(features1.keypoints(j, 0), features1.keypoints(j, 1));
    index0.push_back(static_cast<int>(i));
  }
  report.num_matches = static_cast<int>(points0.size());
  const bool homography = options.method == "homography";
  if (report.num_matches < (homography ? 4 : 8)) return report;
  cv::Mat mask;
  report.model = homography
                     ? cv::findHomography(points0, points1, cv::USAC_MAGSAC, options.max_error_px,
                                          mask, options.max_iterations, options.confidence)
                     : cv::findFundamentalMat(points0, points1, cv::USAC_MAGSAC,
                                              options.max_error_px, options.confidence,
                                              options.max_iterations, mask);
  if (report.model.empty() || mask.empty()) return report;
  report.success = true;
  for (size_t k = 0; k < index0.size(); ++k) {
    const bool inlier = mask.at<uchar>(static_cast<int>(k)) != 0;
    matches->inlier0[index0[k]] = inlier;
    report.num_inliers += inlier;
  }
  return report;
}

}  // namespace vigil
