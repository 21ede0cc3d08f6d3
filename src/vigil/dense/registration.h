// Registration of a reference image into a query image's frame, the common input of every dense
// change channel (dense/change_map.h photometric, and the deep-feature channel).
//
// It is a per-query-pixel lookup into the reference, so one type serves a plane (a homography,
// exact for template scans and far scenes) and a dense flow (3-D scenes with parallax, where no
// single homography explains the matches). Scoring code samples reference pixels, or reference
// feature maps, at (map_x, map_y) and never needs to know which model produced them.
#pragma once

#include <opencv2/core.hpp>

namespace vigil::dense {

struct Registration {
  cv::Mat map_x;  // CV_32F, query size: the reference x (pixels) seen at each query pixel
  cv::Mat map_y;  // CV_32F, query size: the reference y
  cv::Mat valid;  // CV_8U, query size: 255 where (map_x, map_y) lies inside the reference
  cv::Size reference_size;
  cv::Size query_size() const { return map_x.size(); }
  bool empty() const { return map_x.empty(); }
};

// homography: 3x3 query pixel -> reference pixel (CV_32F or CV_64F); empty = identity. Throws
// vigil::Error on a malformed or non-finite matrix or empty sizes.
Registration RegistrationFromHomography(const cv::Mat& homography, cv::Size query_size,
                                        cv::Size reference_size);

// True when the registration is the identity between equal sizes (pre-aligned pairs), so that
// callers can skip resampling, which would otherwise blur the reference by half a pixel nowhere.
bool IsIdentity(const Registration& registration);

// The reference image resampled into the query frame (bilinear, replicated borders; pixels
// outside `valid` hold border values and must be ignored). Any depth and channel count.
cv::Mat WarpToQuery(const cv::Mat& reference, const Registration& registration);

}  // namespace vigil::dense
