#include "vigil/inspection/change_detector.h"

#include <algorithm>
#include <chrono>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"

namespace vigil {
namespace {

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// What the photometric check says of one unmatched keypoint.
enum class Evidence : uint8_t {
  kUnexplained,  // the other image does not show this patch nearby: evidence of a change
  kExplained,    // the patch is found again where the neighbours predict: no change
  kUnseen,       // the predicted patch lies (partly) outside the other image: no evidence either way
};

struct PointPool {
  std::vector<int> matched;    // keypoint indices inside the overlap with a partner
  std::vector<int> unmatched;  // ... without one
};

PointPool SplitByMatch(const Features& features, const std::vector<int>& partner,
                       const cv::Mat& overlap_mask) {
  PointPool pool;
  for (int i = 0; i < features.size(); ++i) {
    if (!InsideMask(overlap_mask, features.keypoints(i, 0), features.keypoints(i, 1))) continue;
    (partner[i] >= 0 ? pool.matched : pool.unmatched).push_back(i);
  }
  return pool;
}

// Applies the photometric check to the pool: explained points move to the matched side (they
// count against a change), unseen ones leave the pool; returns the explained ones.
std::vector<int> ApplyEvidence(PointPool* pool, const std::vector<Evidence>& evidence) {
  std::vector<int> explained, unexplained;
  for (size_t k = 0; k < pool->unmatched.size(); ++k) {
    if (evidence[k] == Evidence::kExplained) explained.push_back(pool->unmatched[k]);
    if (evidence[k] == Evidence::kUnexplained) unexplained.push_back(pool->unmatched[k]);
  }
  pool->unmatched = std::move(unexplained);
  pool->matched.insert(pool->matched.end(), explained.begin(), explained.end());
  return explained;
}

int CountInside(const Features& features, const std::vector<int>& indices, const cv::Mat& mask) {
  int n = 0;
  for (int i : indices) n += InsideMask(mask, features.keypoints(i, 0), features.keypoints(i, 1));
  return n;
}

cv::Rect MaskBox(const cv::Mat& mask) {
  std::vector<cv::Point> nonzero;
  cv::findNonZero(mask, nonzero);
  return nonzero.empty() ? cv::Rect() : cv::boundingRect(nonzero);
}

// Gray version of an optional image (empty stays empty: no photometric check).
cv::Mat ToGray(const cv::Mat& image) { return image.empty() ? image : io::ToGray(image); }

// The median displacement (image 1 minus image 0, per axis) of the `neighbours` keypoints of
// `pool` (matched keypoints of image 0, partners in partner0) nearest to keypoint i of image 0:
// where its surroundings say keypoint i lies in image 1, relative to itself. Shared by the
// photometric check and the geometric matches. `pool` must not be empty.
cv::Point2f NeighbourDisplacement(const Features& f0, const Features& f1, const std::vector<int>& partner0,
                                  const std::vector<int>& pool, int i, int neighbours) {
  const float x = f0.keypoints(i, 0), y = f0.keypoints(i, 1);
  std::vector<std::pair<float, int>> by_distance(pool.size());
  for (size_t m = 0; m < pool.size(); ++m) {
    const float ex = f0.keypoints(pool[m], 0) - x, ey = f0.keypoints(pool[m], 1) - y;
    by_distance[m] = {ex * ex + ey * ey, pool[m]};
  }
  const size_t n = std::min<size_t>(neighbours, by_distance.size());
  std::partial_sort(by_distance.begin(), by_distance.begin() + n, by_distance.end());
  std::vector<float> dx, dy;
  for (size_t m = 0; m < n; ++m) {
    const int j = partner0[by_distance[m].second];
    dx.push_back(f1.keypoints(j, 0) - f0.keypoints(by_distance[m].second, 0));
    dy.push_back(f1.keypoints(j, 1) - f0.keypoints(by_distance[m].second, 1));
  }
  std::nth_element(dx.begin(), dx.begin() + n / 2, dx.end());
  std::nth_element(dy.begin(), dy.begin() + n / 2, dy.end());
  return {dx[n / 2], dy[n / 2]};
}

// The photometric check of `candidates` (unmatched keypoints of image 0): is the patch around
// the keypoint found again (NCC >= min_ncc) near the position its matched neighbours predict in
// image 1? cv::matchTemplate computes the NCC over the search window.
std::vector<Evidence> PhotometricEvidence(const Features& f0, const Features& f1,
                                          const std::vector<int>& partner0,
                                          const std::vector<int>& candidates, const cv::Mat& gray0,
                                          const cv::Mat& gray1, const PhotometricCheckOptions& o) {
  std::vector<Evidence> evidence(candidates.size(), Evidence::kUnexplained);
  std::vector<int> matched;
  for (int i = 0; i < f0.size(); ++i) {
    if (partner0[i] >= 0) matched.push_back(i);
  }
  if (!o.enabled || gray0.empty() || gray1.empty() || matched.empty()) return evidence;
  const int r = o.patch_radius, s = o.search_radius;
  const cv::Rect frame0({}, gray0.size()), frame1({}, gray1.size());
  for (size_t k = 0; k < candidates.size(); ++k) {
    const int i = candidates[k];
    const float x = f0.keypoints(i, 0), y = f0.keypoints(i, 1);
    const cv::Point2f shift = NeighbourDisplacement(f0, f1, partner0, matched, i, o.neighbours);
    const cv::Point predicted(cvRound(x + shift.x), cvRound(y + shift.y));
    const cv::Rect patch_rect(cvRound(x) - r, cvRound(y) - r, 2 * r + 1, 2 * r + 1);
    const cv::Rect search_rect =
        cv::Rect(predicted.x - r - s, predicted.y - r - s, 2 * (r + s) + 1, 2 * (r + s) + 1) & frame1;
    // Where the keypoint's surroundings would lie partly outside the other image, neither the
    // descriptor match nor this check can see them: unseen, not evidence of a change. (Counting
    // such points as unexplained made clusters of false alarms along the image borders.)
    const cv::Rect predicted_patch(predicted.x - r, predicted.y - r, 2 * r + 1, 2 * r + 1);
    if ((predicted_patch & frame1) != predicted_patch || search_rect.width < patch_rect.width ||
        search_rect.height < patch_rect.height) {
      evidence[k] = Evidence::kUnseen;
      continue;
    }
    if ((patch_rect & frame0) != patch_rect) {  // too close to its own border to judge
      evidence[k] = Evidence::kUnseen;
      continue;
    }
    const cv::Mat patch = gray0(patch_rect);
    cv::Scalar mean, stddev;
    cv::meanStdDev(patch, mean, stddev);
    if (stddev[0] < o.min_patch_std) continue;
    cv::Mat scores;
    cv::matchTemplate(gray1(search_rect), patch, scores, cv::TM_CCOEFF_NORMED);
    double best = 0;
    cv::minMaxLoc(scores, nullptr, &best);
    if (best >= o.min_ncc) evidence[k] = Evidence::kExplained;
  }
  return evidence;
}

// Region of a cluster: its convex hull grown by `dilation` pixels, in `size`.
cv::Mat ClusterRegion(const std::vector<cv::Point2f>& hull, cv::Size size, int dilation) {
  cv::Mat mask = cv::Mat::zeros(size, CV_8U);
  std::vector<cv::Point> polygon;
  for (const auto& p : hull) polygon.emplace_back(cvRound(p.x), cvRound(p.y));
  cv::fillConvexPoly(mask, polygon, cv::Scalar(255));
  if (dilation > 0) {
    cv::dilate(mask, mask,
               cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * dilation + 1, 2 * dilation + 1}));
  }
  return mask;
}

struct ClusterAnomalies {
  std::vector<Anomaly> anomalies;
  double eps = 0;
  std::string note;
};

// DBSCAN over `candidates` (unmatched keypoints of `features`), each cluster an anomaly of class
// "unknown"; with the excess rule a cluster must hold more unmatched than matched keypoints.
ClusterAnomalies ClusterUnmatched(const Features& features, const std::vector<int>& candidates,
                                  const std::vector<int>& matched, cv::Size size,
                                  const ChangeDetectorOptions& options) {
  ClusterAnomalies out;
  if (static_cast<int>(candidates.size()) < options.min_samples) {
    out.note = "too few unmatched keypoints to cluster";
    return out;
  }
  Points2f points(static_cast<int>(candidates.size()), 2);
  for (size_t k = 0; k < candidates.size(); ++k) points.row(k) = features.keypoints.row(candidates[k]);
  ClusterPointsOptions cluster_options;
  cluster_options.min_samples = options.min_samples;
  cluster_options.eps = options.eps_px;  // 0: from the k-distance knee, k = min_samples - 1
  cluster_options.min_eps = options.min_eps_px;
  cluster_options.max_eps = options.max_eps_px;
  const ClusterPointsResult clusters = ClusterPoints(points, cluster_options);
  out.eps = clusters.eps;
  if (!clusters.eps_estimated) {
    out.note = "eps given";
  } else {
    const EpsEstimate& estimate = clusters.eps_estimate;
    out.note = estimate.from_knee ? "k-distance knee" : "k-distance fallback: " + estimate.note;
    if (estimate.eps && out.eps != *estimate.eps) {
      out.note += fmt::format(" ({:.1f} px clamped to [{}, {}])", *estimate.eps,
                              options.min_eps_px, options.max_eps_px);
    }
  }
  for (const PointCluster& cluster : clusters.clusters) {
    Anomaly anomaly;
    anomaly.source = "cluster";
    for (int m : cluster.members) anomaly.keypoints.push_back(candidates[m]);
    anomaly.mask = ClusterRegion(cluster.hull, size, options.cluster_dilation_px);
    anomaly.num_unmatched = static_cast<int>(anomaly.keypoints.size());
    anomaly.num_matched = CountInside(features, matched, anomaly.mask);
    if (options.cluster_excess_rule &&
        anomaly.num_unmatched - anomaly.num_matched < options.min_unmatched_excess) {
      continue;
    }
    anomaly.score = static_cast<float>(anomaly.num_unmatched) /
                    static_cast<float>(anomaly.num_unmatched + anomaly.num_matched);
    anomaly.bbox = MaskBox(anomaly.mask);
    out.anomalies.push_back(std::move(anomaly));
  }
  return out;
}

// Maps a reference-frame mask into the query frame with the homography query <- reference.
cv::Mat WarpToQuery(const cv::Mat& mask, const cv::Mat& h, cv::Size query_size) {
  cv::Mat warped;
  cv::warpPerspective(mask, warped, h, query_size, cv::INTER_NEAREST);
  return warped;
}

// Homography reference -> query fitted to the matches; falls back to the median translation.
cv::Mat ReferenceToQuery(const Features& query, const Features& reference, const Matches& m) {
  std::vector<cv::Point2f> pq, pr;
  for (size_t i = 0; i < m.matches0.size(); ++i) {
    if (m.matches0[i] < 0) continue;
    pq.emplace_back(query.keypoints(i, 0), query.keypoints(i, 1));
    pr.emplace_back(reference.keypoints(m.matches0[i], 0), reference.keypoints(m.matches0[i], 1));
  }
  cv::Mat h;
  if (pq.size() >= 8) h = cv::findHomography(pr, pq, cv::USAC_MAGSAC, 8.0);
  if (h.empty()) {
    std::vector<float> dx, dy;
    for (size_t k = 0; k < pq.size(); ++k) {
      dx.push_back(pq[k].x - pr[k].x);
      dy.push_back(pq[k].y - pr[k].y);
    }
    auto median = [](std::vector<float>& v) {
      if (v.empty()) return 0.f;
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    h = (cv::Mat_<double>(3, 3) << 1, 0, median(dx), 0, 1, median(dy), 0, 0, 1);
  }
  return h;
}

void DetectMissing(const ChangeDetectionInput& input, const ChangeDetectorOptions& options,
                   ChangeDetectionResult* result) {
  const Features& query = *input.query;
  const Features& reference = *input.reference;
  const Matches& matches = *input.matches;
  // Matches seen from the reference side.
  Matches reverse;
  reverse.matches0 = matches.matches1;
  reverse.confidence0 = matches.confidence1;
  FillReverseMatches(query.size(), &reverse);
  OverlapOptions overlap_options = options.overlap;
  const Overlap reference_overlap = ComputeOverlap(reference, query, reverse, input.reference_size,
                                                   input.query_size, overlap_options);
  PointPool pool = SplitByMatch(reference, reverse.matches0, reference_overlap.mask);
  ApplyEvidence(&pool, PhotometricEvidence(reference, query, reverse.matches0, pool.unmatched,
                                           ToGray(input.reference_image),
                                           ToGray(input.query_image), options.photometric));
  ClusterAnomalies missing = ClusterUnmatched(reference, pool.unmatched, pool.matched,
                                              input.reference_size, options);
  if (missing.anomalies.empty()) return;
  const cv::Mat h = ReferenceToQuery(query, reference, matches);
  for (Anomaly& anomaly : missing.anomalies) {
    anomaly.kind = "missing";
    const cv::Mat warped = WarpToQuery(anomaly.mask, h, input.query_size);
    anomaly.mask = warped & result->overlap.mask;
    anomaly.bbox = MaskBox(anomaly.mask);
    if (anomaly.bbox.area() == 0) continue;  // maps outside the query's overlap
    if (cv::countNonZero(anomaly.mask) <
        options.min_missing_inside_fraction * cv::countNonZero(warped)) {
      continue;
    }
    result->anomalies.push_back(std::move(anomaly));
  }
}

}  // namespace

void PhotometricCheckOptions::Check() const {
  VIGIL_CHECK_OPTION(patch_radius >= 2, "patch_radius", "must be >= 2");
  VIGIL_CHECK_OPTION(search_radius >= 0, "search_radius", "must be >= 0");
  VIGIL_CHECK_OPTION(neighbours >= 1, "neighbours", "must be >= 1");
  VIGIL_CHECK_OPTION(min_ncc > -1 && min_ncc <= 1, "min_ncc", "must be in (-1, 1]");
  VIGIL_CHECK_OPTION(min_patch_std >= 0, "min_patch_std", "must be >= 0");
}

void ChangeDetectorOptions::Check() const {
  overlap.Check();
  photometric.Check();
  VIGIL_CHECK_OPTION(min_unmatched_excess >= 1, "min_unmatched_excess", "must be >= 1");
  VIGIL_CHECK_OPTION(min_samples >= 2, "min_samples", "must be >= 2");
  VIGIL_CHECK_OPTION(eps_px >= 0, "eps", "must be >= 0 (0 = automatic)");
  VIGIL_CHECK_OPTION(min_eps_px > 0 && max_eps_px >= min_eps_px, "min_eps_px/max_eps_px",
                     "must satisfy 0 < min <= max");
  VIGIL_CHECK_OPTION(cluster_dilation_px >= 0, "cluster_dilation_px", "must be >= 0");
  VIGIL_CHECK_OPTION(max_epipolar_error_px > 0, "max_epipolar_error_px",
                     fmt::format("must be > 0, got {}", max_epipolar_error_px));
  VIGIL_CHECK_OPTION(min_overlap_fraction >= 0 && min_overlap_fraction < 1, "min_overlap_fraction",
                     "must be in [0, 1)");
  VIGIL_CHECK_OPTION(max_anomaly_fraction > 0 && max_anomaly_fraction <= 1, "max_anomaly_fraction",
                     "must be in (0, 1]");
  VIGIL_CHECK_OPTION(min_missing_inside_fraction >= 0 && min_missing_inside_fraction <= 1,
                     "min_missing_inside_fraction", "must be in [0, 1]");
  VIGIL_CHECK_OPTION(min_matches >= 0, "min_matches", "must be >= 0");
}

void SecondViewOptions::Check() const {
  VIGIL_CHECK_OPTION(min_area_fraction >= 0 && min_area_fraction <= 1, "min_area_fraction",
                     "must be in [0, 1]");
  VIGIL_CHECK_OPTION(min_keypoint_share >= 0 && min_keypoint_share <= 1, "min_keypoint_share",
                     "must be in [0, 1]");
  VIGIL_CHECK_OPTION(min_judged_keypoints >= 1, "min_judged_keypoints", "must be >= 1");
}

namespace {

// What the second view says of each query keypoint.
enum class SecondViewSays : uint8_t { kNothing, kExplained, kUnexplained };

std::vector<SecondViewSays> QueryKeypointVerdicts(const ChangeDetectionResult& second) {
  std::vector<SecondViewSays> verdicts;
  auto mark = [&](const std::vector<int>& indices, SecondViewSays says) {
    for (int i : indices) {
      if (i >= static_cast<int>(verdicts.size())) verdicts.resize(i + 1, SecondViewSays::kNothing);
      verdicts[i] = says;
    }
  };
  mark(second.matched_in_overlap, SecondViewSays::kExplained);
  mark(second.explained, SecondViewSays::kExplained);
  mark(second.unexplained, SecondViewSays::kUnexplained);
  return verdicts;
}

// The keypoint part of the confirmation (see SecondViewOptions).
bool KeypointsConfirm(const Anomaly& anomaly, const std::vector<SecondViewSays>& verdicts,
                      const SecondViewOptions& options) {
  if (anomaly.kind != "new") return true;  // "missing" keypoints belong to the first reference
  int judged = 0, unexplained = 0;
  for (int i : anomaly.keypoints) {
    const SecondViewSays says =
        i < static_cast<int>(verdicts.size()) ? verdicts[i] : SecondViewSays::kNothing;
    judged += says != SecondViewSays::kNothing;
    unexplained += says == SecondViewSays::kUnexplained;
  }
  return judged < options.min_judged_keypoints || unexplained >= options.min_keypoint_share * judged;
}

}  // namespace

int ConfirmWithSecondView(const ChangeDetectionResult& second, const SecondViewOptions& options,
                          ChangeDetectionResult* first) {
  options.Check();
  if (second.localization_error || second.overlap.mask.empty()) return 0;
  // A kind confirms only its own kind: a reference that lost sight of something the query
  // shows ("missing" from the second view) says nothing about whether a thing in the query is
  // new, and disocclusions between views make exactly that pattern.
  const cv::Mat second_new = second.ChangeMask(second.overlap.mask.size(), "new");
  const cv::Mat second_missing = second.ChangeMask(second.overlap.mask.size(), "missing");
  const std::vector<SecondViewSays> verdicts = QueryKeypointVerdicts(second);
  std::vector<Anomaly> kept;
  int dropped = 0;
  for (Anomaly& anomaly : first->anomalies) {
    const cv::Mat seen = anomaly.mask & second.overlap.mask;
    const int area = cv::countNonZero(anomaly.mask);
    const int seen_area = cv::countNonZero(seen);
    const bool judged = area > 0 && 2 * seen_area >= area;
    const cv::Mat& second_changes = anomaly.kind == "missing" ? second_missing : second_new;
    const bool area_confirms =
        !judged || cv::countNonZero(seen & second_changes) >= options.min_area_fraction * seen_area;
    if (area_confirms && KeypointsConfirm(anomaly, verdicts, options)) {
      kept.push_back(std::move(anomaly));
    } else {
      first->unconfirmed.push_back(std::move(anomaly));
      ++dropped;
    }
  }
  first->anomalies = std::move(kept);
  return dropped;
}

cv::Mat ChangeDetectionResult::ChangeMask(cv::Size query_size, const std::string& kind) const {
  cv::Mat mask = cv::Mat::zeros(query_size, CV_8U);
  for (const Anomaly& anomaly : anomalies) {
    if (kind.empty() || anomaly.kind == kind) mask |= anomaly.mask;
  }
  return mask;
}

Matches GeometricallyConsistentMatches(const Features& query, const Features& reference,
                                       const Matches& matches, const cv::Mat& fundamental,
                                       double max_error_px, int neighbours, double radius_px) {
  if (fundamental.empty()) return matches;
  VIGIL_CHECK(fundamental.rows == 3 && fundamental.cols == 3,
              "GeometricallyConsistentMatches: fundamental matrix must be 3x3, got {}x{}",
              fundamental.rows, fundamental.cols);
  cv::Matx33d f;
  fundamental.convertTo(cv::Mat(3, 3, CV_64F, f.val), CV_64F);
  auto q = [&](int i) { return cv::Point2d(query.keypoints(i, 0), query.keypoints(i, 1)); };
  auto r = [&](int j) { return cv::Point2d(reference.keypoints(j, 0), reference.keypoints(j, 1)); };
  // Symmetric epipolar distance: the larger of the two points' distances to their lines.
  std::vector<int> consistent, inconsistent;
  for (int i = 0; i < static_cast<int>(matches.matches0.size()); ++i) {
    const int j = matches.matches0[i];
    if (j < 0) continue;
    const cv::Vec3d x(q(i).x, q(i).y, 1), xr(r(j).x, r(j).y, 1);
    const cv::Vec3d line_r = f * x, line_q = f.t() * xr;
    const double e = std::abs(xr.dot(line_r));
    const double d = std::max(e / std::hypot(line_r[0], line_r[1]), e / std::hypot(line_q[0], line_q[1]));
    (d <= max_error_px ? consistent : inconsistent).push_back(i);
  }
  Matches out = matches;
  for (int i : inconsistent) {
    // Where its nearest consistent matches put it (as the photometric check predicts).
    bool predicted = false;
    if (!consistent.empty() && neighbours > 0) {
      const cv::Point2f shift =
          NeighbourDisplacement(query, reference, matches.matches0, consistent, i, neighbours);
      predicted = cv::norm(r(matches.matches0[i]) - (q(i) + cv::Point2d(shift.x, shift.y))) <= radius_px;
    }
    if (!predicted) {
      out.matches0[i] = -1;
      out.confidence0[i] = 0;
      if (!out.inlier0.empty()) out.inlier0[i] = 0;
    }
  }
  FillReverseMatches(reference.size(), &out);
  return out;
}

ChangeDetectionResult DetectChanges(const ChangeDetectionInput& given,
                                    const ChangeDetectorOptions& options) {
  options.Check();
  VIGIL_CHECK(given.query && given.reference && given.matches, "DetectChanges: missing input");
  // Only the matches the verified geometry allows count, when it is known.
  ChangeDetectionInput input = given;
  Matches consistent;
  if (options.geometric_matches && !given.fundamental.empty()) {
    consistent = GeometricallyConsistentMatches(
        *given.query, *given.reference, *given.matches, given.fundamental,
        options.max_epipolar_error_px, options.photometric.neighbours, options.photometric.search_radius);
    input.matches = &consistent;
  }
  const Features& query = *input.query;
  const Matches& matches = *input.matches;
  VIGIL_CHECK(static_cast<int>(matches.matches0.size()) == query.size(),
              "DetectChanges: {} matches for {} query keypoints", matches.matches0.size(),
              query.size());
  ChangeDetectionResult result;
  auto start = Clock::now();
  result.overlap = ComputeOverlap(query, *input.reference, matches, input.query_size,
                                  input.reference_size, options.overlap);
  PointPool pool = SplitByMatch(query, matches.matches0, result.overlap.mask);
  result.matched_in_overlap = pool.matched;
  result.unmatched_in_overlap = pool.unmatched;
  result.timings_ms["overlap"] = MsSince(start);
  start = Clock::now();
  result.explained = ApplyEvidence(
      &pool, PhotometricEvidence(query, *input.reference, matches.matches0, pool.unmatched,
                                 ToGray(input.query_image), ToGray(input.reference_image),
                                 options.photometric));
  result.unexplained = pool.unmatched;
  result.timings_ms["photometric"] = MsSince(start);

  // Step 3: instances with more unmatched than matched keypoints.
  start = Clock::now();
  std::vector<bool> taken(query.size(), false);
  const std::vector<Instance> no_instances;
  const auto& instances = input.instances ? *input.instances : no_instances;
  for (size_t k = 0; k < instances.size(); ++k) {
    const Instance& instance = instances[k];
    Anomaly anomaly;
    for (int i : pool.unmatched) {
      if (!taken[i] && InsideMask(instance.mask, query.keypoints(i, 0), query.keypoints(i, 1))) {
        anomaly.keypoints.push_back(i);
      }
    }
    anomaly.num_unmatched = static_cast<int>(anomaly.keypoints.size());
    anomaly.num_matched = CountInside(query, pool.matched, instance.mask);
    if (anomaly.num_unmatched - anomaly.num_matched < options.min_unmatched_excess) continue;
    for (int i : anomaly.keypoints) taken[i] = true;
    anomaly.source = "instance";
    anomaly.label = instance.label;
    anomaly.segmenter_score = instance.score;
    anomaly.score = static_cast<float>(anomaly.num_unmatched) /
                    static_cast<float>(anomaly.num_unmatched + anomaly.num_matched);
    anomaly.mask = instance.mask.clone();
    anomaly.bbox = MaskBox(anomaly.mask);
    result.instance_hits.push_back(static_cast<int>(k));
    result.anomalies.push_back(std::move(anomaly));
  }
  result.timings_ms["instances"] = MsSince(start);

  // Step 4: DBSCAN over what is left.
  start = Clock::now();
  for (int i : pool.unmatched) {
    if (!taken[i]) result.cluster_points.push_back(i);
  }
  ClusterAnomalies clusters =
      ClusterUnmatched(query, result.cluster_points, pool.matched, input.query_size, options);
  result.eps_px = clusters.eps;
  result.eps_note = clusters.note;
  for (Anomaly& anomaly : clusters.anomalies) {
    anomaly.mask &= result.overlap.mask;
    anomaly.bbox = MaskBox(anomaly.mask);
    result.anomalies.push_back(std::move(anomaly));
  }
  if (options.detect_missing) DetectMissing(input, options, &result);
  result.timings_ms["clusters"] = MsSince(start);

  // Localization check (paper Sec. V).
  const int num_matches = matches.num_matches();
  const double overlap_area = cv::countNonZero(result.overlap.mask);
  const double anomaly_area = cv::countNonZero(result.ChangeMask(input.query_size) & result.overlap.mask);
  if (num_matches < options.min_matches) {
    result.localization_error = true;
    result.note = fmt::format("only {} matches with the reference (< {})", num_matches,
                              options.min_matches);
  } else if (result.overlap.area_fraction < options.min_overlap_fraction) {
    result.localization_error = true;
    result.note = fmt::format("overlap covers {:.0f}% of the image (< {:.0f}%)",
                              100 * result.overlap.area_fraction, 100 * options.min_overlap_fraction);
  } else if (overlap_area > 0 && anomaly_area / overlap_area > options.max_anomaly_fraction) {
    result.localization_error = true;
    result.note = fmt::format("anomalies cover {:.0f}% of the overlap (> {:.0f}%)",
                              100 * anomaly_area / overlap_area, 100 * options.max_anomaly_fraction);
  }
  if (result.localization_error) {
    result.withheld_anomalies = static_cast<int>(result.anomalies.size());
    result.anomalies.clear();
  }
  return result;
}

}  // namespace vigil
