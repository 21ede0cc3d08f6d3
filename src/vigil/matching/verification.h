// Optional geometric verification of matches: a homography (planar scenes, pure rotation,
// the shifted-image case) or a fundamental matrix (general 3-D scenes), estimated robustly with
// OpenCV's USAC MAGSAC++ (Barath et al., CVPR 2020). Marks each match inlier or outlier in
// Matches::inlier0; matches are kept, so a caller can choose to drop outliers or only report them.
#pragma once

#include <string>

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
};

// Fills matches->inlier0 (size N0; 1 = inlier). With fewer matches than the model needs
// (4 for a homography, 8 for a fundamental matrix) every match is marked an outlier.
VerificationReport VerifyMatches(const Features& features0, const Features& features1,
                                 const VerificationOptions& options, Matches* matches);

}  // namespace vigil
