// The overlap mask: the part of the query image that the reference image also sees. Only
// keypoints inside it can be judged "unmatched because something changed" rather than
// "unmatched because the reference never saw that part" (robot change-detection paper,
// Sec. IV step 3: the min/max box of the matched query keypoints).
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil {

struct OverlapOptions {
  // "box": the paper's axis-aligned min/max box of the matched query keypoints;
  // "hull": their convex hull (tighter for diagonal views);
  // "homography": the reference image's frame warped into the query by a homography fitted to
  //               the matches (USAC MAGSAC), falling back to "box" when none is found.
  std::string method = "box";
  double homography_max_error_px = 8.0;  // inlier threshold of the homography fit, pixels
  int min_matches = 4;                   // fewer matches: empty overlap
  // The overlap can be shrunk by this share of the image's shorter side: next to its edge
  // (usually the image border) the other view is least reliable (viewpoint, lens distortion,
  // detector border effects), and unmatched keypoints there are mostly not changes.
  double margin_fraction = 0.0;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("method", s.method);
    v("homography_max_error_px", s.homography_max_error_px);
    v("min_matches", s.min_matches);
    v("margin_fraction", s.margin_fraction);
  }
  void Check() const;
};

struct Overlap {
  cv::Mat mask;                      // CV_8U, image size, 255 inside
  std::vector<cv::Point> polygon;    // outline in image pixels (box: 4 corners)
  std::string method;                // the method actually used (after any fallback)
  double area_fraction = 0;          // mask area / image area
  cv::Mat homography;                // 3x3 CV_64F mapping points of image 1 into image 0, if fitted
};

// Overlap of image 0 (size `size0`, features f0) with image 1 (size `size1`, features f1),
// given matches from image 0 to image 1. Expressed in image 0's pixels.
Overlap ComputeOverlap(const Features& f0, const Features& f1, const Matches& matches,
                       cv::Size size0, cv::Size size1, const OverlapOptions& options);

// True when pixel (x, y) (rounded) lies inside `mask`.
bool InsideMask(const cv::Mat& mask, float x, float y);

}  // namespace vigil
