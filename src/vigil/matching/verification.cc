#include "vigil/matching/verification.h"

#include <algorithm>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

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
  report.method = homography ? "homography" : "fundamental";
  std::vector<cv::Point2f> inliers;
  for (size_t k = 0; k < index0.size(); ++k) {
    const bool inlier = mask.at<uchar>(static_cast<int>(k)) != 0;
    matches->inlier0[index0[k]] = inlier;
    report.num_inliers += inlier;
    if (inlier) inliers.push_back(points0[k]);
  }
  report.inlier_ratio = static_cast<double>(report.num_inliers) / report.num_matches;
  if (inliers.size() >= 3) {
    std::vector<cv::Point2f> hull;
    cv::convexHull(inliers, hull);
    report.span = cv::contourArea(hull);  // pixels^2 here; CheckView divides by the image area
  }
  return report;
}

void ViewCheckOptions::Check() const {
  VIGIL_CHECK_OPTION(min_inliers >= 0, "min_inliers", fmt::format("must be >= 0, got {}", min_inliers));
  VIGIL_CHECK_OPTION(min_inlier_ratio >= 0 && min_inlier_ratio <= 1, "min_inlier_ratio",
                     fmt::format("must be in [0, 1], got {}", min_inlier_ratio));
  VIGIL_CHECK_OPTION(min_span >= 0 && min_span <= 1, "min_span",
                     fmt::format("must be in [0, 1], got {}", min_span));
  ransac.Check();
}

ViewCheck CheckView(const Features& query, const Features& reference, const Matches& matches,
                    cv::Size query_size, const ViewCheckOptions& options) {
  ViewCheck check;
  for (const char* method : {"homography", "fundamental"}) {
    VerificationOptions ransac = options.ransac;
    ransac.method = method;
    Matches copy = matches;
    VerificationReport report = VerifyMatches(query, reference, ransac, &copy);
    report.span /= std::max(1.0, static_cast<double>(query_size.area()));
    if (!check.report.success || report.num_inliers > check.report.num_inliers) check.report = report;
  }
  const VerificationReport& r = check.report;
  if (r.num_inliers < options.min_inliers) {
    check.reason = fmt::format("{} geometric inliers of {} matches (needs {})", r.num_inliers,
                               r.num_matches, options.min_inliers);
  } else if (r.inlier_ratio < options.min_inlier_ratio) {
    check.reason = fmt::format("inlier ratio {:.2f} (needs {:.2f})", r.inlier_ratio, options.min_inlier_ratio);
  } else if (r.span < options.min_span) {
    check.reason = fmt::format("inliers span {:.1f}% of the query (needs {:.1f}%)", 100 * r.span,
                               100 * options.min_span);
  }
  check.passed = check.reason.empty();
  return check;
}

}  // namespace vigil
