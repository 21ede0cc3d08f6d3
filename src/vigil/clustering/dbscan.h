// DBSCAN on 2-D points (keypoints in pixels).
//
// M. Ester, H.-P. Kriegel, J. Sander, X. Xu, "A Density-Based Algorithm for Discovering Clusters
// in Large Spatial Databases with Noise", KDD 1996. Conventions are scikit-learn's
// (sklearn.cluster.DBSCAN), so results can be compared with it:
//   - the eps-neighbourhood of p is every point q with |p - q| <= eps (Euclidean), p included;
//   - p is a core point when its neighbourhood holds >= min_samples points (p counts itself);
//   - clusters are grown from core points in index order; a border point (not core, within eps
//     of a core point) joins the first cluster that reaches it, i.e. the cluster whose lowest
//     core index is smallest; everything else is noise, label -1;
//   - duplicate points are separate points (they count towards min_samples).
// The robot change-detection paper (Algorithm 1) clusters the unmatched query keypoints that are
// left inside the overlap after instance segmentation, with minPts = 5; eps comes from the knee
// of the sorted k-distance curve (Ester et al. Sec. 4.2) unless given: EstimateDbscanEps().
//
// Neighbour search uses a uniform hash grid with cell size eps (exact, O(n * neighbours)).
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <opencv2/core.hpp>

#include "vigil/kneedle/kneedle.h"

namespace vigil {

// N x 2 (x, y) points; the same type as KeypointMatrix (features/types.h).
using Points2f = Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor>;

struct DbscanOptions {
  double eps = 10.0;    // neighbourhood radius, in the points' unit (pixels); > 0
  int min_samples = 5;  // points (self included) within eps that make a core point; >= 1
  void Check() const;
};

struct DbscanResult {
  std::vector<int> labels;    // per point: cluster id 0..num_clusters-1, or -1 for noise
  std::vector<bool> is_core;  // per point: core point?
  int num_clusters = 0;

  // Indices of the points with label `cluster`.
  std::vector<int> ClusterMembers(int cluster) const;
};

// Throws vigil::Error on bad options or non-finite coordinates (naming the point index).
DbscanResult Dbscan(const Points2f& points, const DbscanOptions& options);

struct EpsEstimateOptions {
  // k-dist(p) = distance from p to its k-th nearest *other* point (Ester et al.). With
  // min_samples counting the point itself, k = min_samples - 1 makes every point whose k-dist is
  // <= eps a core point; the paper's minPts = 5 gives k = 4 (Ester et al.'s choice for 2-D).
  int k = 4;
  double sensitivity = 1.0;  // Kneedle S on the sorted k-distance curve (convex, increasing)
  // Kneedle mode. For a convex increasing curve kneed reverses it, so offline mode (first knee)
  // returns the RIGHTMOST elbow, which on real k-distance curves often sits among the noise
  // points' distances; online mode returns the leftmost elbow, where the curve leaves the
  // clusters' level (checked on seeded blobs + uniform noise in dbscan_test.cc).
  bool online = true;
  // When the curve has no knee: eps = this quantile of the k-distances (0.5 = median).
  double fallback_quantile = 0.5;
  void Check() const;
};

struct EpsEstimate {
  std::optional<double> eps;         // empty when there are <= k points or all coincide
  bool from_knee = false;            // true: the knee of the k-distance curve; false: fallback
  std::string note;                  // how eps was chosen (fallback reason), for reports
  std::vector<double> k_distances;   // sorted ascending, one per point
  std::optional<size_t> knee_index;  // index into k_distances
};

// The sorted k-distance curve and its knee (Kneedle, curve convex, direction increasing).
EpsEstimate EstimateDbscanEps(const Points2f& points, const EpsEstimateOptions& options);

// Algorithm 1's clustering step in one call: eps from the k-distance knee (k = min_samples - 1)
// unless given, DBSCAN, and a summary per cluster for reports.
struct ClusterPointsOptions {
  int min_samples = 5;                 // the paper's minPts (self included)
  double eps = 0;                      // pixels; <= 0 = estimate from the k-distance knee
  double eps_sensitivity = 1.0;        // Kneedle S for the estimate
  double eps_fallback_quantile = 0.5;  // estimate's fallback when the curve has no knee
  // Bounds on an estimated eps (a knee found on very few points can be degenerate); a given
  // eps is used as is. Defaults: unbounded.
  double min_eps = 0;
  double max_eps = std::numeric_limits<double>::infinity();
  void Check() const;
};

struct PointCluster {
  int label = 0;                  // DBSCAN label
  std::vector<int> members;       // indices into the input points
  std::vector<cv::Point2f> hull;  // convex hull of the members (counter-clockwise)
  cv::Rect2f bbox;                // axis-aligned box from min to max coordinates
  cv::Point2f centroid;           // mean of the members
};

struct ClusterPointsResult {
  DbscanResult dbscan;                 // labels per point (all -1 when no eps was available)
  double eps = 0;                      // eps used; 0 when none (too few points)
  bool eps_estimated = false;          // true: from EstimateDbscanEps
  EpsEstimate eps_estimate;            // filled when estimated
  std::vector<PointCluster> clusters;  // one per DBSCAN cluster, by label
};

ClusterPointsResult ClusterPoints(const Points2f& points, const ClusterPointsOptions& options);

}  // namespace vigil
