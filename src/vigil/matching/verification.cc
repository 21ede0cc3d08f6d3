#include "vigil/matching/verification.h"

#include <algorithm>
#include <cmath>
#include <random>

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

namespace {

// Mean inliers of the estimator on `shuffles` random permutations of the matched reference
// points: what the same fit finds on the same keypoint layout without true correspondences.
// Seeded, so that a check is reproducible.
double NullInliers(const Features& query, const Features& reference, const Matches& matches,
                   const VerificationOptions& ransac, int shuffles) {
  std::vector<int> partners;
  for (int j : matches.matches0) {
    if (j >= 0) partners.push_back(j);
  }
  std::mt19937 rng(12345);
  double total = 0;
  for (int s = 0; s < shuffles; ++s) {
    std::shuffle(partners.begin(), partners.end(), rng);
    Matches shuffled = matches;
    size_t k = 0;
    for (int& j : shuffled.matches0) {
      if (j >= 0) j = partners[k++];
    }
    total += VerifyMatches(query, reference, ransac, &shuffled).num_inliers;
  }
  return total / shuffles;
}

}  // namespace

double BinomialUpperTail(int n, int k, double p) {
  if (k <= 0) return 1.0;
  if (k > n) return 0.0;
  if (p <= 0) return 0.0;
  if (p >= 1) return 1.0;
  // Sum of the terms in log space from k up; they decrease past the mode, so stop when they
  // no longer add to the sum.
  double sum = 0;
  const double lp = std::log(p), lq = std::log1p(-p);
  for (int i = k; i <= n; ++i) {
    const double log_term = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) +
                            i * lp + (n - i) * lq;
    const double term = std::exp(log_term);
    sum += term;
    if (i > n * p && term < sum * 1e-12) break;
  }
  return std::min(1.0, sum);
}

void ViewCheckOptions::Check() const {
  VIGIL_CHECK_OPTION(min_inliers >= 0, "min_inliers", fmt::format("must be >= 0, got {}", min_inliers));
  VIGIL_CHECK_OPTION(min_inlier_ratio >= 0 && min_inlier_ratio <= 1, "min_inlier_ratio",
                     fmt::format("must be in [0, 1], got {}", min_inlier_ratio));
  VIGIL_CHECK_OPTION(min_span >= 0 && min_span <= 1, "min_span",
                     fmt::format("must be in [0, 1], got {}", min_span));
  VIGIL_CHECK_OPTION(null_shuffles >= 0, "null_shuffles", fmt::format("must be >= 0, got {}", null_shuffles));
  VIGIL_CHECK_OPTION(max_null_probability > 0 && max_null_probability < 1, "max_null_probability",
                     fmt::format("must be in (0, 1), got {}", max_null_probability));
  VIGIL_CHECK_OPTION(null_max_iterations > 0, "null_max_iterations",
                     fmt::format("must be > 0, got {}", null_max_iterations));
  ransac.Check();
}

double HomographyScoreShare(const Features& query, const Features& reference, const Matches& matches,
                            const cv::Mat& homography, const cv::Mat& fundamental, double sigma_px) {
  const double inv_var = 1.0 / (sigma_px * sigma_px);
  cv::Matx33d h, h_inv, f;
  const bool has_h = !homography.empty(), has_f = !fundamental.empty();
  auto to_matx = [](const cv::Mat& m) {
    cv::Mat d;
    m.convertTo(d, CV_64F);
    return cv::Matx33d(d.ptr<double>());
  };
  if (has_h) {
    h = to_matx(homography);
    h_inv = h.inv();
  }
  if (has_f) f = to_matx(fundamental);
  auto transfer = [](const cv::Matx33d& m, const cv::Vec3d& p) {
    const cv::Vec3d t = m * p;
    return cv::Vec2d(t[0] / t[2], t[1] / t[2]);
  };
  auto line_distance_sq = [](const cv::Vec3d& line, const cv::Vec3d& p) {
    const double d = line.dot(p);
    return d * d / (line[0] * line[0] + line[1] * line[1] + 1e-300);
  };
  double score_h = 0, score_f = 0;
  for (size_t i = 0; i < matches.matches0.size(); ++i) {
    const int j = matches.matches0[i];
    if (j < 0) continue;
    const int row = static_cast<int>(i);
    const cv::Vec3d q(query.keypoints(row, 0), query.keypoints(row, 1), 1.0);
    const cv::Vec3d r(reference.keypoints(j, 0), reference.keypoints(j, 1), 1.0);
    if (has_h) {
      for (const double e : {cv::norm(transfer(h, q) - cv::Vec2d(r[0], r[1])),
                             cv::norm(transfer(h_inv, r) - cv::Vec2d(q[0], q[1]))}) {
        const double chi = e * e * inv_var;
        if (std::isfinite(chi) && chi < 5.991) score_h += 5.991 - chi;
      }
    }
    if (has_f) {
      for (const double d2 : {line_distance_sq(f * q, r), line_distance_sq(f.t() * r, q)}) {
        const double chi = d2 * inv_var;
        if (std::isfinite(chi) && chi < 3.841) score_f += 5.991 - chi;
      }
    }
  }
  return score_h + score_f > 0 ? score_h / (score_h + score_f) : 0.0;
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
    if (report.success && report.method == "homography") {
      check.homography = report.model;
      check.homography_inliers = report.num_inliers;
    }
    if (report.success && report.method == "fundamental") check.fundamental = report.model;
    if (!check.report.success || report.num_inliers > check.report.num_inliers) check.report = report;
  }
  VerificationReport& r = check.report;
  if (r.success && options.null_shuffles > 0 && r.num_inliers >= options.min_inliers) {
    VerificationOptions ransac = options.ransac;
    ransac.method = r.method;
    ransac.max_iterations = options.null_max_iterations;
    r.null_inliers = NullInliers(query, reference, matches, ransac, options.null_shuffles);
    const double p0 = std::clamp(r.null_inliers / std::max(1, r.num_matches), 1e-9, 1.0);
    r.null_probability = BinomialUpperTail(r.num_matches, r.num_inliers, p0);
  }
  if (r.num_inliers < options.min_inliers) {
    check.reason = fmt::format("{} geometric inliers of {} matches (needs {})", r.num_inliers,
                               r.num_matches, options.min_inliers);
  } else if (r.inlier_ratio < options.min_inlier_ratio) {
    check.reason = fmt::format("inlier ratio {:.2f} (needs {:.2f})", r.inlier_ratio, options.min_inlier_ratio);
  } else if (r.span < options.min_span) {
    check.reason = fmt::format("inliers span {:.1f}% of the query (needs {:.1f}%)", 100 * r.span,
                               100 * options.min_span);
  } else if (r.null_probability > options.max_null_probability) {
    check.reason = fmt::format("{} inliers of {} matches is chance level: shuffled matches give {:.1f} "
                               "(p = {:.2g}, needs < {:.2g})", r.num_inliers, r.num_matches,
                               r.null_inliers, r.null_probability, options.max_null_probability);
  }
  check.passed = check.reason.empty();
  return check;
}

}  // namespace vigil
