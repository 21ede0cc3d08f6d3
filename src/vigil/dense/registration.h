// Registration of a reference image into a query image's frame, the common input of every dense
// change channel (dense/change_map.h photometric, and the deep-feature channel).
//
// It is a per-query-pixel lookup into the reference, so one type serves a plane (a homography,
// exact for template scans and far scenes) and a dense flow (3-D scenes with parallax, where no
// single homography explains the matches). Scoring code samples reference pixels, or reference
// feature maps, at (map_x, map_y) and never needs to know which model produced them.
#pragma once

#include <string>
#include <vector>

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

namespace vigil::dense {

// A dense registration interpolated from sparse correspondences, for 3-D scenes where no one
// homography explains the view change (parallax between near and far surfaces): EpicFlow's
// edge-preserving interpolation (Revaud et al., "EpicFlow: Edge-Preserving Interpolation of
// Correspondences for Optical Flow", CVPR 2015) as OpenCV ximgproc implements it
// (EdgeAwareInterpolator: locally-weighted affine fits to the k geodesically nearest matches,
// the geodesic distance following the query's own edges, then a fast global smoother).
// The correspondences are the verified inlier matches, which lie on the unchanged scene, so a
// new object takes the motion of the surface around it instead of being "explained" by flow.
struct FlowRegistrationOptions {
  // Fewer inlier correspondences than this: no flow (the caller falls back to a homography).
  // >= 3 (the interpolator fits local affine models).
  int min_matches = 20;
  // Matches in each local affine fit; the EpicFlow paper and OpenCV use 128. >= 3.
  int k = 128;
  // Decay of the fit weights with geodesic distance (OpenCV's default). > 0.
  double sigma = 0.05;
  // Weight of the edge term in the geodesic distance, 0..1000 (OpenCV's default 999: the flow
  // may change sharply across the query's edges, as it does at depth discontinuities).
  double lambda = 999;
  // The fast global smoother afterwards, with its lambda and sigma (OpenCV's defaults).
  bool post_process = true;
  double fgs_lambda = 500;
  double fgs_sigma = 1.5;
  // Photometric refinement of the interpolated flow: "dis" (OpenCV's DIS optical flow, Kroeger
  // et al., ECCV 2016, between the query and the reference warped by the interpolated flow; the
  // residual flow is composed with it, as EpicFlow refines its interpolation variationally) or
  // "none". The refinement aligns what the matches leave approximate (untextured surfaces,
  // depth edges); it cannot explain content the reference does not have.
  std::string refine = "dis";
  // Pixels: the interpolated flow must reproduce its own matches to within this median error,
  // else it is refused (the caller falls back to a homography). The verification's inlier
  // threshold (ViewCheckOptions ransac.max_error_px, 3 px): a flow that leaves its matches
  // further off than that does not register them. > 0.
  double max_match_error_px = 3.0;

  void Check() const;
  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("min_matches", s.min_matches);
    v("k", s.k);
    v("sigma", s.sigma);
    v("lambda", s.lambda);
    v("post_process", s.post_process);
    v("fgs_lambda", s.fgs_lambda);
    v("fgs_sigma", s.fgs_sigma);
    v("refine", s.refine);
    v("max_match_error_px", s.max_match_error_px);
  }
};

// query_points[i] (query pixels) corresponds to reference_points[i]. query_image and
// reference_image: 8-bit gray or BGR; the query's edges guide the interpolation, the reference
// is needed by the refinement. Returns an empty Registration when there are fewer than
// options.min_matches correspondences. Throws vigil::Error on mismatched sizes.
Registration RegistrationFromMatches(const cv::Mat& query_image, const cv::Mat& reference_image,
                                     const std::vector<cv::Point2f>& query_points,
                                     const std::vector<cv::Point2f>& reference_points,
                                     const FlowRegistrationOptions& options);

// Both directions of a 3-D registration, which the two change directions need: "new" is query
// content that the reference, warped into the query, does not explain; "missing" is reference
// content that the query, warped into the reference, does not explain. A refined flow maps every
// pixel to the most similar content it can reach, so it routes around a removed object's pixels
// instead of onto them: "missing" is scored in the reference frame, with the query warped there,
// and then carried into the query frame by the unrefined (smooth) flow, which still maps the
// removed object's pixels onto the place in the query where it was.
struct FlowPair {
  Registration query_to_reference;         // refined: samples the reference for "new"
  Registration reference_to_query;         // refined: samples the query for "missing"
  Registration query_to_reference_smooth;  // interpolated only: carries "missing" to the query
  bool empty() const { return query_to_reference.empty() || reference_to_query.empty(); }
};

// The three registrations from the same correspondences (swapped for the reverse direction).
// Empty when there are fewer than options.min_matches.
FlowPair FlowPairFromMatches(const cv::Mat& query_image, const cv::Mat& reference_image,
                             const std::vector<cv::Point2f>& query_points,
                             const std::vector<cv::Point2f>& reference_points,
                             const FlowRegistrationOptions& options);

}  // namespace vigil::dense
