// Change detection for one query/reference pair: Algorithm 1 of
//   "Robot change detection with SuperPoint and SuperGlue" (../shared/papers, Sec. IV, Alg. 1):
//   1. match the query to the reference with the calibrated threshold (done by the caller);
//   2. overlap mask from the matched query keypoints (overlap.h);
//   3. for each instance of the query's instance segmentation: n_u = its unmatched keypoints
//      inside the overlap, n_m = its matched ones; when n_u - n_m >= min_unmatched_excess
//      (paper: >= 1) the instance is an anomaly (with its class) and its unmatched keypoints
//      are removed from the pool;
//   4. DBSCAN (minPts 5; eps from the knee of the sorted k-distance curve unless given) over
//      the remaining unmatched keypoints inside the overlap: each cluster is an anomaly of
//      class "unknown" (objects no segmenter knows, e.g. textured clutter).
// vigil's additions, each an option with the paper's behaviour reachable:
//   - cluster_excess_rule: a DBSCAN cluster is kept only when its convex hull holds more
//     unmatched than matched keypoints (the instance rule applied to clusters); unchanged
//     textured areas always have some unmatched detections, and this separates them from new
//     objects. Off = the paper (every cluster is an anomaly).
//   - detect_missing: the same search the other way round (reference keypoints unmatched in the
//     query, inside the reference's overlap), clusters mapped into the query by a homography
//     fitted to the matches: objects that were removed since the reference run. One is
//     reported only when at least min_missing_inside_fraction of it lands inside the query's
//     overlap.
//   - photometric check: an unmatched keypoint whose neighbourhood looks the same in the other
//     image (normalised cross-correlation >= min_ncc of a patch around it against the other
//     image, searched around where its matched neighbours say it should be) is "explained":
//     detectors do not fire repeatably and mutual NN drops ambiguous matches, so most unmatched
//     keypoints in an unchanged scene are of this kind. Explained points count as matched in the
//     rules above. NCC is invariant to the gain/offset lighting changes between runs. A
//     keypoint whose patch would lie partly outside either image is "unseen": neither the
//     descriptor nor the patch could show it, so it is evidence of nothing and leaves the pool.
//   - geometric matches: a match counts only when the view's verified geometry allows it: its
//     epipolar error under the fundamental matrix of the reference's verification is within
//     max_epipolar_error_px (the verification's own inlier threshold), or it lands where its
//     nearest epipolar-consistent neighbours predict (the photometric check's neighbours and
//     search radius, which absorbs lens distortion and other smooth model error). A match
//     elsewhere is not evidence that the reference explains the keypoint at its place: a
//     removed object's reference keypoints matched to the inpainting or clutter now, or a
//     moved object's keypoints matched to its old place, are unmatched and so found. Needs
//     ChangeDetectionInput::fundamental; without one every match counts (the paper).
//   - localization check: when the overlap is tiny, or the anomalies cover most of it, the
//     frame is flagged as a likely localization error (paper Sec. V) and its anomalies are
//     withheld instead of reported as a wall of changes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/clustering/dbscan.h"
#include "vigil/features/types.h"
#include "vigil/inspection/overlap.h"
#include "vigil/matching/types.h"
#include "vigil/segmentation/segmenter.h"

namespace vigil {

// See "photometric check" above.
struct PhotometricCheckOptions {
  bool enabled = true;       // needs the two images in ChangeDetectionInput
  int patch_radius = 10;     // patch of (2r+1)^2 pixels around the keypoint
  int search_radius = 12;    // searched +-this around the predicted position, pixels
  int neighbours = 8;        // matched keypoints whose median displacement predicts the position
  double min_ncc = 0.7;      // explained when the best normalised cross-correlation reaches this
  double min_patch_std = 2.0;  // patches flatter than this (gray levels) are never "explained"
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("enabled", s.enabled);
    v("patch_radius", s.patch_radius);
    v("search_radius", s.search_radius);
    v("neighbours", s.neighbours);
    v("min_ncc", s.min_ncc);
    v("min_patch_std", s.min_patch_std);
  }
  void Check() const;
};

struct ChangeDetectorOptions {
  OverlapOptions overlap;
  PhotometricCheckOptions photometric;
  int min_unmatched_excess = 1;       // anomaly when n_unmatched - n_matched >= this (paper: 1)
  int min_samples = 5;                // DBSCAN minPts (paper: 5)
  double eps_px = 0;                  // DBSCAN eps in pixels; 0 = from the k-distance knee
  double min_eps_px = 8;              // bounds on the automatic eps (a knee on very few points
  double max_eps_px = 40;             // can be degenerate), pixels
  bool cluster_excess_rule = true;    // clusters must also satisfy the instance rule (see top)
  int cluster_dilation_px = 8;        // a cluster's region = hull of its points grown by this
  bool detect_missing = true;         // also report objects missing from the query
  // A missing object is reported only when at least this share of its region maps inside the
  // query's overlap: the query cannot say much about a thing it mostly does not see.
  double min_missing_inside_fraction = 0.5;
  double min_overlap_fraction = 0.1;  // smaller overlap (share of the image): localization error
  double max_anomaly_fraction = 0.6;  // anomalies covering more of the overlap: localization error
  int min_matches = 12;               // fewer matches: localization error
  bool geometric_matches = true;      // see "geometric matches" above (false: the paper)
  double max_epipolar_error_px = 3;   // = ViewCheckOptions' RANSAC inlier threshold, pixels
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("overlap", s.overlap);
    v("photometric", s.photometric);
    v("min_unmatched_excess", s.min_unmatched_excess);
    v("min_samples", s.min_samples);
    v("eps_px", s.eps_px);
    v("min_eps_px", s.min_eps_px);
    v("max_eps_px", s.max_eps_px);
    v("cluster_excess_rule", s.cluster_excess_rule);
    v("cluster_dilation_px", s.cluster_dilation_px);
    v("detect_missing", s.detect_missing);
    v("min_missing_inside_fraction", s.min_missing_inside_fraction);
    v("min_overlap_fraction", s.min_overlap_fraction);
    v("max_anomaly_fraction", s.max_anomaly_fraction);
    v("min_matches", s.min_matches);
    v("geometric_matches", s.geometric_matches);
    v("max_epipolar_error_px", s.max_epipolar_error_px);
  }
  void Check() const;
};

struct Anomaly {
  std::string kind = "new";        // "new" (in the query only) | "missing" (in the reference only)
  std::string source;              // "instance" (segmenter) | "cluster" (DBSCAN)
  std::string label = "unknown";   // class from the segmenter, "unknown" for clusters
  float score = 0;                 // n_unmatched / (n_unmatched + n_matched) in [0, 1]
  float segmenter_score = 1;       // the segmenter's confidence (instances), 1 for clusters
  int num_unmatched = 0;
  int num_matched = 0;
  cv::Rect bbox;                   // in query pixels
  cv::Mat mask;                    // CV_8U query-size mask, 255 inside
  std::vector<int> keypoints;      // unmatched keypoint indices (query, or reference if missing)
  // The dense confirmation's test of this region (InspectorOptions::confirmation "dense",
  // dense/region_significance.h), -1 when it was not judged.
  float dense_statistic = -1;
  float dense_null_rate = -1;
};

struct ChangeDetectionResult {
  Overlap overlap;                        // in query pixels
  std::vector<int> matched_in_overlap;    // query keypoint indices
  std::vector<int> unmatched_in_overlap;  // query keypoint indices (before instance removal)
  std::vector<int> instance_hits;         // indices into the instances that became anomalies
  std::vector<int> explained;             // unmatched query points the reference explains
  std::vector<int> unexplained;           // unmatched query points it was seen not to explain
  std::vector<int> cluster_points;        // unmatched points left for DBSCAN
  double eps_px = 0;                      // eps DBSCAN used
  std::string eps_note;                   // how eps was chosen
  std::vector<Anomaly> anomalies;         // reported anomalies (empty on localization error)
  int withheld_anomalies = 0;             // anomalies dropped by the localization check
  std::vector<Anomaly> unconfirmed;       // dropped by ConfirmWithSecondView (shown, not counted)
  bool localization_error = false;
  std::string note;                       // why the frame was flagged
  std::map<std::string, double> timings_ms;

  // Union of the anomaly masks (CV_8U, query size); zero when there are none. With `kind`
  // ("new" | "missing"), only the anomalies of that kind.
  cv::Mat ChangeMask(cv::Size query_size, const std::string& kind = "") const;
};

struct ChangeDetectionInput {
  const Features* query = nullptr;      // query keypoints/descriptors
  const Features* reference = nullptr;  // reference keypoints/descriptors
  const Matches* matches = nullptr;     // query -> reference, already thresholded
  cv::Size query_size;
  cv::Size reference_size;
  const std::vector<Instance>* instances = nullptr;  // query instances (may be null: no segmenter)
  cv::Mat query_image;      // 8-bit, for the photometric check (empty: check skipped)
  cv::Mat reference_image;  // 8-bit
  // The verified view's fundamental matrix (reference^T F query = 0, ViewCheck::fundamental),
  // for geometric_matches; empty: every match counts.
  cv::Mat fundamental;
};

// The matches that the geometry allows (see "geometric matches" above): those with epipolar
// error <= max_error_px under `fundamental` (3x3, reference^T F query = 0), and those within
// radius_px of where the median displacement of their `neighbours` nearest such matches puts
// them. The others are removed (matches1 and confidences follow). An empty fundamental returns
// the matches unchanged.
Matches GeometricallyConsistentMatches(const Features& query, const Features& reference,
                                       const Matches& matches, const cv::Mat& fundamental,
                                       double max_error_px, int neighbours, double radius_px);

ChangeDetectionResult DetectChanges(const ChangeDetectionInput& input,
                                    const ChangeDetectorOptions& options);

// Multi-view confirmation (vigil's addition): a change must be seen from a second reference
// viewpoint too. Parallax and disocclusion make unmatched keypoints at depth edges, but they
// differ between viewpoints, while a new or removed object is absent from every reference
// view. An anomaly of `first` is kept when
//  - the second result's anomalies of the same kind ("new" or "missing") cover at least
//    `min_area_fraction` of its pixels that lie inside the second overlap, or less than half
//    of it lies inside the second overlap (the second view cannot judge it); and
//  - for a "new" anomaly, at least `min_keypoint_share` of its unmatched query keypoints
//    that the second view judges (matched, explained or unexplained there) are unexplained
//    there too; with fewer than `min_judged_keypoints` judged, this part does not apply.
//    The query keypoints are the same in both views, so this asks of the anomaly's own
//    evidence whether the second reference shows it, which the area test cannot.
// Returns how many anomalies were dropped; they are removed from first->anomalies.
struct SecondViewOptions {
  double min_area_fraction = 0.1;
  double min_keypoint_share = 0.5;
  int min_judged_keypoints = 3;
  template <class Self, class V>  // util/options_fields.h
  static void Fields(Self& s, V&& v) {
    v("min_area_fraction", s.min_area_fraction);
    v("min_keypoint_share", s.min_keypoint_share);
    v("min_judged_keypoints", s.min_judged_keypoints);
  }
  void Check() const;
};
int ConfirmWithSecondView(const ChangeDetectionResult& second, const SecondViewOptions& options,
                          ChangeDetectionResult* first);

}  // namespace vigil
