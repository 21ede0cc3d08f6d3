// Dense change evidence for reference-based change detection: the query image against ONE
// reference image already registered to it by a 3x3 homography (query pixel -> reference pixel;
// identity for pre-aligned template pairs such as PCB scans).
//
// Method: the nearest-neighbour correspondence idea of SPADE (Cohen & Hoshen, "Sub-Image Anomaly
// Detection with Deep Pyramid Correspondences", 2020) applied to intensities instead of deep
// features and restricted to a small spatial window: a query pixel is "explained" if some
// reference pixel within +-window_radius has nearly the same gain/offset-normalised intensity.
// The window tolerates residual misalignment and parallax; the normalisation tolerates exposure
// changes. Both directions are scored, because a textureless new object and a removed textured
// object leave different evidence:
//   new_score(p)     = min_{|d|<=r} |q(p) - r'(p+d)|   query content the reference does not explain
//   missing_score(p) = min_{|d|<=r} |r'(p) - q(p+d)|   reference content the query does not explain
// with r' the reference warped into the query frame and mapped to the query's gain/offset.
// Scores are in query grey levels (0..255).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/dense/registration.h"

namespace vigil::dense {

struct DenseChangeOptions {
  // Pixels: a query pixel is explained by the best reference pixel within +-window_radius
  // (tolerates residual misalignment / parallax of that size). >= 0. On deeppcb-dev (aligned
  // scans, residual translation removed) 2 leaves edge strips (precision 0.58), 4 loses small
  // defects (recall 0.85), 3 with open_radius 1 gives precision 0.82 at recall 0.93.
  int window_radius = 3;
  // Pixels: half-size of the local mean/std window of the gain/offset normalisation. 0 = one
  // global gain/offset fit per image pair (mean/std matching over the valid pixels), which keeps
  // a flat region distinct from a flat background where a local normalisation would map both to 0.
  int normalise_radius = 0;
  // Global mode: the fitted gain is clamped to [1/max_gain, max_gain], so a query whose content
  // differs a lot (e.g. a large textured area removed) cannot flatten the reference. >= 1.
  double max_gain = 2.0;
  // Grey levels: floor on the local standard deviation (normalise_radius > 0 only), so flat
  // areas are not amplified into noise. > 0.
  double normalise_min_std = 8.0;
  // Pixels: Gaussian pre-smoothing of both images (0 = none); suppresses sensor/JPEG noise.
  double blur_sigma = 1.0;
  // Pixels: connected regions smaller than this are dropped by ExtractRegions. >= 1.
  int min_region_px = 20;
  // Pixels: radius of the morphological closing that joins fragments of one change before the
  // components are labelled (0 = none). >= 0.
  int close_radius = 1;
  // Pixels: radius of the morphological opening applied first, which removes the thin strips
  // that a residual misalignment larger than window_radius leaves along edges (0 = none). >= 0.
  int open_radius = 1;

  void Check() const;

  template <class Self, class V>
  static void Fields(Self& s, V&& v) {
    v("window_radius", s.window_radius);
    v("normalise_radius", s.normalise_radius);
    v("max_gain", s.max_gain);
    v("normalise_min_std", s.normalise_min_std);
    v("blur_sigma", s.blur_sigma);
    v("min_region_px", s.min_region_px);
    v("close_radius", s.close_radius);
    v("open_radius", s.open_radius);
  }
};

// All query-size.
struct ChangeMap {
  cv::Mat new_score;      // CV_32F: query content the reference does not explain ("new")
  cv::Mat missing_score;  // CV_32F: warped reference content the query does not explain ("missing")
  cv::Mat valid;          // CV_8U, 255 where the warped reference covers the whole window
  // Per-pixel max of the two scores, 0 outside valid.
  cv::Mat Score() const;
};

// query, reference: 8-bit gray or BGR, any sizes. homography: 3x3 CV_64F query -> reference,
// empty = identity. Throws vigil::Error on empty images or a malformed homography.
ChangeMap ScorePair(const cv::Mat& query, const cv::Mat& reference, const cv::Mat& homography,
                    const DenseChangeOptions& options);

// The same scores for any registration (dense/registration.h: a homography's or a dense flow's).
// Throws vigil::Error when the registration's sizes are not the images'.
ChangeMap ScoreRegistered(const cv::Mat& query, const cv::Mat& reference,
                          const Registration& registration, const DenseChangeOptions& options);

// The same scores for a 3-D scene registered both ways (dense/registration.h FlowPair): "new" in
// the query frame, "missing" in the reference frame carried into the query by the smooth flow.
// Only the global gain/offset normalisation (normalise_radius 0). Throws vigil::Error when the
// registrations do not fit the images.
ChangeMap ScoreFlowPair(const cv::Mat& query, const cv::Mat& reference, const FlowPair& pair,
                        const DenseChangeOptions& options);

// Per pixel: the minimum over the maps whose valid covers it (a change must be unexplained by
// every reference); valid = union. All maps must have the same size.
ChangeMap MinOverReferences(const std::vector<ChangeMap>& maps);

// Threshold from change-free data: the (1 - false_alarm_rate) quantile of Score() over the valid
// pixels of maps of change-free pairs.
struct DenseCalibration {
  double threshold = 0;
  double false_alarm_rate = 0;
  int num_maps = 0;
  int64_t num_pixels = 0;
};
DenseCalibration CalibrateThreshold(const std::vector<ChangeMap>& clean, double false_alarm_rate);

// A change-free query made from a reference image itself: shifted by half a pixel (bilinear:
// the registration residual every real pair has) and re-encoded as JPEG at quality 75 (a fresh
// capture's compression noise). Scoring it against the reference gives the clean-score
// distribution that CalibrateThreshold needs, from the reference run alone.
cv::Mat SimulateCleanQuery(const cv::Mat& reference);

// The threshold from reference images alone: each image (8-bit gray or BGR, converted to gray
// so that a map's stored pixels give the same number) scored against its SimulateCleanQuery,
// then CalibrateThreshold. What `vigil calibrate` stores and `vigil inspect` computes.
DenseCalibration CalibrateOnReferences(const std::vector<cv::Mat>& references,
                                       const DenseChangeOptions& options, double false_alarm_rate);

struct DenseRegion {
  std::string kind;  // "new" | "missing": whichever score has the larger sum over the region
  cv::Rect bbox;
  cv::Mat mask;      // CV_8U query size, 255 inside
  float score = 0;   // peak Score() inside
  int area_px = 0;
};

// Score() > threshold, opening of open_radius, closing of close_radius, 8-connected components, >= min_region_px.
// Sorted by descending peak score. A map without valid pixels gives no regions.
std::vector<DenseRegion> ExtractRegions(const ChangeMap& map, double threshold,
                                        const DenseChangeOptions& options);

}  // namespace vigil::dense
