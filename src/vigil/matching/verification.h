// Optional geometric verification of matches: a homography (planar scenes, pure rotation,
// the shifted-image case) or a fundamental matrix (general 3-D scenes), estimated robustly with
// OpenCV's USAC MAGSAC++ (Barath et al., CVPR 2020). Marks each match inlier or outlier in
// Matches::inlier0; matches are kept, so a caller can choose to drop outliers or only report them.
#pragma once

#include <limits>

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil {

struct VerificationOptions {
  std::string method = "homography";  // homography | fundamental | none
  double max_error_px = 3.0;          // inlier threshold: reprojection / Sampson error, pixels
  double confidence = 0.999;          // RANSAC confidence
  int max_iterations = 10000;         // RANSAC iteration cap
  void Check() const;
};

// What the estimator found (PoseLib-style stats next to the result).
struct VerificationReport {
  bool success = false;  // enough matches and a model was found
  int num_matches = 0;   // matches given to the estimator
  int num_inliers = 0;
  cv::Mat model;         // 3x3 homography or fundamental matrix (CV_64F); empty on failure
  std::string method;    // the model fitted: "homography" | "fundamental"
  double inlier_ratio = 0;  // num_inliers / num_matches (0 without matches)
  double span = 0;       // area of the inliers' convex hull in image 0 / image 0's area
  // CheckView's significance test: mean inliers of the shuffled fits, and the binomial tail
  // probability of num_inliers under that chance rate (NaN when not tested).
  double null_inliers = std::numeric_limits<double>::quiet_NaN();
  double null_probability = std::numeric_limits<double>::quiet_NaN();
};

// Whether a reference image shows the query's place, judged by geometry and never by raw match
// counts (a larger or more textured image has more matches by size alone): enough inliers of
// a homography or fundamental matrix (USAC MAGSAC++), as large a share of the matches, spread
// over enough of the query. The thresholds follow common practice in SfM verification
// (COLMAP's two-view geometry: 15 inliers, 25 % inlier ratio).
//
// Those thresholds alone are met by chance: a fundamental matrix fitted by MAGSAC to the ~90
// matches between an office frame and a PCB scan keeps 26 "inliers" (28 %), and with the same
// points' correspondences shuffled it keeps 21-24; for true pairs the shuffled count is 8-10 %
// of the matches against 50-87 % real. So the inliers must also be significant against that
// null: the same estimator is run on `null_shuffles` random permutations of the reference
// points (the keypoint layout, which makes some epipolar geometries fit anything, is kept), the
// null inlier rate p0 is their mean share, and the real count k of n matches must have a
// binomial tail P(X >= k | n, p0) below `max_null_probability` (a significance level, not a
// threshold tuned to any data set).
struct ViewCheckOptions {
  int min_inliers = 15;          // fewer: the reference does not show the query's place
  double min_inlier_ratio = 0.25;  // inliers / matches
  double min_span = 0.05;        // inlier hull area / query image area
  int null_shuffles = 3;         // permutations for the chance level; 0 = no significance test
  double max_null_probability = 1e-3;  // significance level of the inlier count
  int null_max_iterations = 1000;  // RANSAC cap for the null fits (random data never stops early;
                                   // fewer iterations can only underestimate the null: lenient)
  VerificationOptions ransac;    // method is ignored: both models are fitted, the better kept
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("min_inliers", s.min_inliers);
    v("min_inlier_ratio", s.min_inlier_ratio);
    v("min_span", s.min_span);
    v("null_shuffles", s.null_shuffles);
    v("max_null_probability", s.max_null_probability);
    v("null_max_iterations", s.null_max_iterations);
    v("ransac_max_error_px", s.ransac.max_error_px);
  }
  void Check() const;
};

struct ViewCheck {
  bool passed = false;
  std::string reason;          // why it failed, one line ("" when passed)
  VerificationReport report;   // of the model with more inliers
  cv::Mat homography;          // the homography fitted (query -> reference), even when the
                               // fundamental matrix won; empty when none was found
  int homography_inliers = 0;  // its inliers
  cv::Mat fundamental;         // the fundamental matrix fitted, even when the homography won
};

// Whether one plane explains a two-view scene: the share R_H = S_H / (S_H + S_F) of the
// homography's score in Torr's model selection as ORB-SLAM's initializer scores it (Mur-Artal
// et al., "ORB-SLAM", T-RO 2015, Sec. IV): every match adds (5.991 - d^2 / sigma^2) to a model's
// score for each direction whose squared error d^2 / sigma^2 stays below the chi-square
// threshold (5.991 for the homography's 2-D transfer error, 3.841 for the fundamental matrix's
// 1-D epipolar distance). Both models are judged on every match with the same sigma, so the
// looser epipolar constraint does not win by counting more inliers. ORB-SLAM takes the
// homography when R_H > 0.45. homography: query -> reference; fundamental: reference^T F query
// = 0. Either may be empty (then that model scores 0); 0 when both are.
double HomographyScoreShare(const Features& query, const Features& reference, const Matches& matches,
                            const cv::Mat& homography, const cv::Mat& fundamental,
                            double sigma_px = 1.0);

// P(X >= k) for X ~ Binomial(n, p).
double BinomialUpperTail(int n, int k, double p);

// Fits a homography and a fundamental matrix to the matches (features0 = query), keeps the
// one with more inliers and judges it by `options`. Leaves `matches` untouched.
ViewCheck CheckView(const Features& query, const Features& reference, const Matches& matches,
                    cv::Size query_size, const ViewCheckOptions& options);

// Fills matches->inlier0 (size N0; 1 = inlier). With fewer matches than the model needs
// (4 for a homography, 8 for a fundamental matrix) every match is marked an outlier.
VerificationReport VerifyMatches(const Features& features0, const Features& features1,
                                 const VerificationOptions& options, Matches* matches);

}  // namespace vigil
