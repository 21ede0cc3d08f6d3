#include "vigil/clustering/dbscan.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <queue>
#include <unordered_map>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
namespace {

void CheckPoints(const Points2f& points) {
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    VIGIL_CHECK(std::isfinite(points(i, 0)) && std::isfinite(points(i, 1)),
                "DBSCAN: point {} has a non-finite coordinate ({}, {})", i, points(i, 0),
                points(i, 1));
  }
}

// Points bucketed into square cells of side `cell`: every point within `cell` of p lies in p's
// cell or one of its 8 neighbours.
class HashGrid {
 public:
  HashGrid(const Points2f& points, double cell) : points_(points), cell_(cell) {
    if (points.rows() == 0) return;
    origin_x_ = points.col(0).minCoeff();
    origin_y_ = points.col(1).minCoeff();
    const double span =
        std::max(points.col(0).maxCoeff() - origin_x_, points.col(1).maxCoeff() - origin_y_);
    // Cell indices are packed into 32 bits each.
    VIGIL_CHECK(span / cell_ < 1e9,
                "DBSCAN: eps = {} is too small for points spread over {} (more than 1e9 cells)",
                cell_, span);
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
      cells_[Key(CellX(points(i, 0)), CellY(points(i, 1)))].push_back(static_cast<int>(i));
    }
  }

  // Indices of the points within `radius` (<= cell) of point i, i included, sorted.
  std::vector<int> Neighbors(int i, double radius) const {
    std::vector<int> out;
    const double px = points_(i, 0), py = points_(i, 1);
    const int64_t cx = CellX(px), cy = CellY(py);
    const double r2 = radius * radius;
    for (int64_t dy = -1; dy <= 1; ++dy) {
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const auto it = cells_.find(Key(cx + dx, cy + dy));
        if (it == cells_.end()) continue;
        for (int j : it->second) {
          const double ex = points_(j, 0) - px, ey = points_(j, 1) - py;
          if (ex * ex + ey * ey <= r2) out.push_back(j);
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  int64_t CellX(double x) const {
    return static_cast<int64_t>(std::floor((x - origin_x_) / cell_));
  }
  int64_t CellY(double y) const {
    return static_cast<int64_t>(std::floor((y - origin_y_) / cell_));
  }
  static uint64_t Key(int64_t cx, int64_t cy) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(cx)) << 32) | static_cast<uint32_t>(cy);
  }

  const Points2f& points_;
  double cell_;
  double origin_x_ = 0, origin_y_ = 0;
  std::unordered_map<uint64_t, std::vector<int>> cells_;
};

}  // namespace

void DbscanOptions::Check() const {
  VIGIL_CHECK_OPTION(std::isfinite(eps) && eps > 0, "dbscan.eps", "must be finite and > 0");
  VIGIL_CHECK_OPTION(min_samples >= 1, "dbscan.min_samples", "must be >= 1");
}

std::vector<int> DbscanResult::ClusterMembers(int cluster) const {
  std::vector<int> members;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == cluster) members.push_back(static_cast<int>(i));
  }
  return members;
}

DbscanResult Dbscan(const Points2f& points, const DbscanOptions& options) {
  options.Check();
  CheckPoints(points);
  const int n = static_cast<int>(points.rows());
  DbscanResult result;
  result.labels.assign(n, -1);
  result.is_core.assign(n, false);
  if (n == 0) return result;

  const HashGrid grid(points, options.eps);
  std::vector<std::vector<int>> neighborhoods(n);
  for (int i = 0; i < n; ++i) {
    neighborhoods[i] = grid.Neighbors(i, options.eps);
    result.is_core[i] = static_cast<int>(neighborhoods[i].size()) >= options.min_samples;
  }

  // Grow clusters from unlabelled core points in index order (scikit-learn's dbscan_inner):
  // every point reached gets the current label; only core points spread further.
  std::vector<int> stack;
  for (int seed = 0; seed < n; ++seed) {
    if (result.labels[seed] != -1 || !result.is_core[seed]) continue;
    const int label = result.num_clusters++;
    stack.assign(1, seed);
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      if (result.labels[i] != -1) continue;
      result.labels[i] = label;
      if (!result.is_core[i]) continue;
      for (int j : neighborhoods[i]) {
        if (result.labels[j] == -1) stack.push_back(j);
      }
    }
  }
  return result;
}

void EpsEstimateOptions::Check() const {
  VIGIL_CHECK_OPTION(k >= 1, "eps_estimate.k", "must be >= 1");
  VIGIL_CHECK_OPTION(std::isfinite(sensitivity) && sensitivity >= 0, "eps_estimate.sensitivity",
                     "must be finite and >= 0");
  VIGIL_CHECK_OPTION(fallback_quantile >= 0 && fallback_quantile <= 1,
                     "eps_estimate.fallback_quantile", "must be in [0, 1]");
}

EpsEstimate EstimateDbscanEps(const Points2f& points, const EpsEstimateOptions& options) {
  options.Check();
  CheckPoints(points);
  const int n = static_cast<int>(points.rows());
  EpsEstimate estimate;
  if (n <= options.k) {
    estimate.note =
        fmt::format("no eps: {} points, the k-distance needs more than k = {}", n, options.k);
    return estimate;
  }
  // k-th smallest distance to the other points. A bounded max-heap per point keeps this
  // O(n^2 log k); keypoint sets left after masking are small (hundreds to a few thousand).
  estimate.k_distances.resize(n);
  std::priority_queue<double> heap;
  for (int i = 0; i < n; ++i) {
    heap = {};
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = points(j, 0) - points(i, 0), dy = points(j, 1) - points(i, 1);
      const double d2 = dx * dx + dy * dy;
      if (static_cast<int>(heap.size()) < options.k) {
        heap.push(d2);
      } else if (d2 < heap.top()) {
        heap.pop();
        heap.push(d2);
      }
    }
    estimate.k_distances[i] = std::sqrt(heap.top());
  }
  std::sort(estimate.k_distances.begin(), estimate.k_distances.end());

  const auto fallback = [&](const std::string& why) {
    const double position = options.fallback_quantile * (n - 1);
    const auto lo = static_cast<size_t>(std::floor(position));
    const size_t hi = std::min<size_t>(lo + 1, n - 1);
    const double t = position - static_cast<double>(lo);
    estimate.eps = estimate.k_distances[lo] * (1 - t) + estimate.k_distances[hi] * t;
    estimate.note = fmt::format(
        "no knee in the k-distance curve ({}); eps = {:.3g} quantile of "
        "the {}-distances",
        why, options.fallback_quantile, options.k);
  };

  std::vector<double> x(n);
  for (int i = 0; i < n; ++i) x[i] = i;
  KneedleOptions kneedle;
  kneedle.sensitivity = options.sensitivity;
  kneedle.curve = KneeCurve::kConvex;
  kneedle.direction = KneeDirection::kIncreasing;
  kneedle.online = options.online;
  const KneedleResult knee = FindKnee(x, estimate.k_distances, kneedle);
  // Float coordinates make equal distances differ in the last bits (relative to the coordinates'
  // magnitude); Kneedle would normalise that rounding noise into a curve, so a spread within a
  // few float ulps of the largest coordinate counts as flat.
  const double spread = estimate.k_distances.back() - estimate.k_distances.front();
  const double magnitude = points.cwiseAbs().maxCoeff();
  const double tolerance =
      8 * std::numeric_limits<float>::epsilon() * magnitude + 1e-9 * estimate.k_distances.back();
  if (spread <= tolerance) {
    fallback("all k-distances are equal");
  } else if (!knee.knee) {
    fallback(knee.no_knee_reason);
  } else if (!(knee.knee->y > 0)) {
    // Duplicated points give k-distance 0; eps must be > 0.
    fallback("the knee is at k-distance 0");
  } else {
    estimate.eps = knee.knee->y;
    estimate.from_knee = true;
    estimate.knee_index = knee.knee->index;
    estimate.note = fmt::format("eps = knee of the sorted {}-distance curve", options.k);
  }
  if (estimate.eps && !(*estimate.eps > 0)) {
    estimate.eps.reset();
    estimate.note += "; all k-distances are 0 (duplicate points), no usable eps";
  }
  return estimate;
}

void ClusterPointsOptions::Check() const {
  VIGIL_CHECK_OPTION(min_samples >= 1, "min_samples", "must be >= 1");
  VIGIL_CHECK_OPTION(std::isfinite(eps), "eps", "must be finite (<= 0 = estimate)");
  VIGIL_CHECK_OPTION(eps > 0 || min_samples >= 2, "min_samples",
                     "must be >= 2 when eps is estimated (k = min_samples - 1)");
  VIGIL_CHECK_OPTION(min_eps >= 0 && max_eps >= min_eps, "min_eps/max_eps",
                     "must satisfy 0 <= min_eps <= max_eps");
}

ClusterPointsResult ClusterPoints(const Points2f& points, const ClusterPointsOptions& options) {
  options.Check();
  CheckPoints(points);
  ClusterPointsResult result;
  const int n = static_cast<int>(points.rows());
  result.dbscan.labels.assign(n, -1);
  result.dbscan.is_core.assign(n, false);
  if (options.eps > 0) {
    result.eps = options.eps;
  } else {
    EpsEstimateOptions estimate;
    estimate.k = options.min_samples - 1;
    estimate.sensitivity = options.eps_sensitivity;
    estimate.fallback_quantile = options.eps_fallback_quantile;
    result.eps_estimated = true;
    result.eps_estimate = EstimateDbscanEps(points, estimate);
    if (!result.eps_estimate.eps) return result;  // too few points: everything is noise
    result.eps = std::clamp(*result.eps_estimate.eps, options.min_eps, options.max_eps);
  }
  DbscanOptions dbscan;
  dbscan.eps = result.eps;
  dbscan.min_samples = options.min_samples;
  result.dbscan = Dbscan(points, dbscan);
  for (int label = 0; label < result.dbscan.num_clusters; ++label) {
    PointCluster cluster;
    cluster.label = label;
    cluster.members = result.dbscan.ClusterMembers(label);
    std::vector<cv::Point2f> member_points;
    for (int i : cluster.members) member_points.emplace_back(points(i, 0), points(i, 1));
    float x0 = member_points[0].x, y0 = member_points[0].y, x1 = x0, y1 = y0;
    cv::Point2d sum(0, 0);
    for (const cv::Point2f& p : member_points) {
      x0 = std::min(x0, p.x);
      y0 = std::min(y0, p.y);
      x1 = std::max(x1, p.x);
      y1 = std::max(y1, p.y);
      sum += cv::Point2d(p.x, p.y);
    }
    cluster.bbox = cv::Rect2f(x0, y0, x1 - x0, y1 - y0);
    const double count = static_cast<double>(member_points.size());
    cluster.centroid =
        cv::Point2f(static_cast<float>(sum.x / count), static_cast<float>(sum.y / count));
    cv::convexHull(member_points, cluster.hull, /*clockwise=*/false);
    result.clusters.push_back(std::move(cluster));
  }
  return result;
}

}  // namespace vigil
