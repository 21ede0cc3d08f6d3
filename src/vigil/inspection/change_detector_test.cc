#include "vigil/inspection/change_detector.h"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
namespace {

const cv::Size kSize(640, 480);

// A query/reference pair: a 24 x 18 grid of keypoints that all match (reference = query shifted
// by (+4, +2)), plus extra query-only points given per test.
struct Scene {
  cv::Point2f shift;  // reference position - query position of the same scene point
  Features query, reference;
  Matches matches;
  std::vector<Instance> instances;

  explicit Scene(cv::Point2f shift = {4.f, 2.f}) : shift(shift) {
    std::vector<Eigen::RowVector2f> grid;
    for (int r = 0; r < 18; ++r) {
      for (int c = 0; c < 24; ++c) grid.emplace_back(20.f + 25.f * c, 20.f + 25.f * r);
    }
    const int n = static_cast<int>(grid.size());
    query.keypoints.resize(n, 2);
    reference.keypoints.resize(n, 2);
    for (int i = 0; i < n; ++i) {
      query.keypoints.row(i) = grid[i];
      reference.keypoints.row(i) = grid[i] + Eigen::RowVector2f(shift.x, shift.y);
      matches.matches0.push_back(i);
      matches.confidence0.push_back(0.9f);
    }
  }
  // Adds query keypoints without a partner.
  void AddUnmatched(const std::vector<cv::Point2f>& points) {
    const int n0 = query.size();
    query.keypoints.conservativeResize(n0 + static_cast<int>(points.size()), 2);
    for (size_t k = 0; k < points.size(); ++k) {
      query.keypoints.row(n0 + k) << points[k].x, points[k].y;
      matches.matches0.push_back(-1);
      matches.confidence0.push_back(0.f);
    }
  }
  // Adds reference keypoints without a partner (something the query no longer shows).
  void AddReferenceOnly(const std::vector<cv::Point2f>& points) {
    const int n0 = reference.size();
    reference.keypoints.conservativeResize(n0 + static_cast<int>(points.size()), 2);
    for (size_t k = 0; k < points.size(); ++k) {
      reference.keypoints.row(n0 + k) << points[k].x, points[k].y;
    }
  }
  // Adds one matched pair.
  void AddMatch(cv::Point2f in_query, cv::Point2f in_reference) {
    query.keypoints.conservativeResize(query.size() + 1, 2);
    query.keypoints.row(query.size() - 1) << in_query.x, in_query.y;
    AddReferenceOnly({in_reference});
    matches.matches0.push_back(reference.size() - 1);
    matches.confidence0.push_back(0.9f);
  }
  void AddInstance(cv::Rect box, const std::string& label) {
    Instance instance;
    instance.mask = cv::Mat::zeros(kSize, CV_8U);
    instance.mask(box).setTo(255);
    instance.bbox = box;
    instance.label = label;
    instance.score = 0.9f;
    instances.push_back(instance);
  }
  ChangeDetectionResult Run(const ChangeDetectorOptions& options, const cv::Mat& query_image = {},
                            const cv::Mat& reference_image = {}) {
    FillReverseMatches(reference.size(), &matches);
    ChangeDetectionInput input{&query,     &reference,  &matches,     kSize,          kSize,
                               &instances, query_image, reference_image};
    return DetectChanges(input, options);
  }
  // The reference image of a query image under this scene's shift.
  cv::Mat ReferenceImageOf(const cv::Mat& query_image) const {
    const cv::Mat translation = (cv::Mat_<double>(2, 3) << 1, 0, shift.x, 0, 1, shift.y);
    cv::Mat reference_image;
    cv::warpAffine(query_image, reference_image, translation, query_image.size(), cv::INTER_LINEAR,
                   cv::BORDER_REFLECT);
    return reference_image;
  }
};

// 3 x 3 unmatched points around (x, y), 6 px apart.
std::vector<cv::Point2f> Blob(float x, float y, int side = 3, float step = 6.f) {
  std::vector<cv::Point2f> points;
  for (int i = 0; i < side; ++i) {
    for (int j = 0; j < side; ++j) points.emplace_back(x + step * i, y + step * j);
  }
  return points;
}

TEST(ChangeDetector, UnchangedSceneHasNoAnomaly) {
  Scene scene;
  const ChangeDetectionResult result = scene.Run({});
  EXPECT_TRUE(result.anomalies.empty());
  EXPECT_FALSE(result.localization_error) << result.note;
  EXPECT_EQ(result.unmatched_in_overlap.size(), 0u);
}

TEST(ChangeDetector, InstanceWithMoreUnmatchedThanMatchedIsAnAnomaly) {
  Scene scene;
  scene.AddUnmatched(Blob(102, 102));           // 9 unmatched inside the box below
  scene.AddInstance({100, 100, 30, 30}, "chair");  // holds grid points (120,120): 1 matched
  scene.AddInstance({300, 300, 60, 60}, "sofa");   // 4 matched, 0 unmatched: not an anomaly
  const ChangeDetectionResult result = scene.Run({});
  ASSERT_EQ(result.anomalies.size(), 1u);
  const Anomaly& a = result.anomalies[0];
  EXPECT_EQ(a.source, "instance");
  EXPECT_EQ(a.label, "chair");
  EXPECT_EQ(a.num_unmatched, 9);
  EXPECT_EQ(a.num_matched, 1);
  EXPECT_FLOAT_EQ(a.score, 0.9f);
  EXPECT_EQ(a.bbox, cv::Rect(100, 100, 30, 30));
  // Its keypoints were removed before DBSCAN: nothing left to cluster.
  EXPECT_TRUE(result.cluster_points.empty());
}

TEST(ChangeDetector, ExcessThresholdIsHonoured) {
  Scene scene;
  scene.AddUnmatched({{102, 102}, {104, 108}});   // 2 unmatched
  scene.AddInstance({100, 100, 30, 30}, "cup");   // 1 matched: 2 - 1 = 1
  EXPECT_EQ(scene.Run({}).anomalies.size(), 1u);
  ChangeDetectorOptions strict;
  strict.min_unmatched_excess = 2;
  strict.detect_missing = false;
  EXPECT_EQ(scene.Run(strict).anomalies.size(), 0u);
}

// Blurred noise: texture that normalised cross-correlation finds again only where it came from.
cv::Mat Texture(uint64_t seed) {
  cv::RNG rng(seed);
  cv::Mat noise(kSize, CV_8U);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(noise, noise, {0, 0}, 2.0);
  cv::normalize(noise, noise, 0, 255, cv::NORM_MINMAX);
  return noise;
}

TEST(ChangeDetector, PhotometricCheckDropsPointsTheReferenceShows) {
  Scene scene;
  scene.AddUnmatched(Blob(203, 203, 4, 5.f));  // unmatched, but the reference shows the same
  const cv::Mat query_image = Texture(1);
  const cv::Mat reference_image = scene.ReferenceImageOf(query_image);
  ChangeDetectorOptions options;
  options.eps_px = 10;
  options.detect_missing = false;
  const ChangeDetectionResult checked = scene.Run(options, query_image, reference_image);
  EXPECT_TRUE(checked.anomalies.empty());
  EXPECT_EQ(checked.explained.size(), 16u);
  options.photometric.enabled = false;  // the paper: every unmatched point counts
  EXPECT_EQ(scene.Run(options, query_image, reference_image).anomalies.size(), 1u);
}

TEST(ChangeDetector, PhotometricCheckKeepsANewPatch) {
  Scene scene;
  scene.AddUnmatched(Blob(203, 203, 4, 5.f));
  cv::Mat query_image = Texture(1);
  const cv::Mat reference_image = scene.ReferenceImageOf(query_image);
  Texture(2)(cv::Rect(180, 180, 60, 60)).copyTo(query_image(cv::Rect(180, 180, 60, 60)));
  ChangeDetectorOptions options;
  options.eps_px = 10;
  options.detect_missing = false;
  const ChangeDetectionResult result = scene.Run(options, query_image, reference_image);
  ASSERT_EQ(result.anomalies.size(), 1u);
  EXPECT_EQ(result.anomalies[0].num_unmatched, 16);
  EXPECT_TRUE(result.explained.empty());
}

TEST(ChangeDetector, PointsWhosePatchLeavesTheOtherImageAreUnseenNotChanges) {
  // The reference looks 12 px higher: what the query shows at its top edge lies above the
  // reference's top edge. Its reference image is unrelated texture, so any point the check
  // could judge would be unexplained.
  Scene scene({4.f, -12.f});
  scene.AddUnmatched(Blob(203, 22, 4, 3.f));  // rows 22..31: predicted at 10..19
  const cv::Mat query_image = Texture(1), reference_image = Texture(3);
  ChangeDetectorOptions options;
  options.eps_px = 10;
  options.detect_missing = false;
  options.photometric.patch_radius = 20;  // predicted patches start at y = -10..-1
  const ChangeDetectionResult result = scene.Run(options, query_image, reference_image);
  EXPECT_TRUE(result.anomalies.empty());
  EXPECT_TRUE(result.explained.empty());
  EXPECT_TRUE(result.cluster_points.empty());
  // Lower down, the same points are judged, and are unexplained.
  Scene lower({4.f, -12.f});
  lower.AddUnmatched(Blob(203, 62, 4, 3.f));
  EXPECT_EQ(lower.Run(options, query_image, reference_image).anomalies.size(), 1u);
}

TEST(ChangeDetector, PointsTooNearTheirOwnBorderAreUnseenNotChanges) {
  // The reference looks 20 px lower, so the predicted patches fit; but with a 35 px patch radius
  // the query's own patches around rows 22..31 cross its top edge. Such a keypoint's descriptor
  // was cut by the border too: its failing to match is no evidence of a change.
  Scene scene({4.f, 20.f});
  scene.AddUnmatched(Blob(203, 22, 4, 3.f));
  const cv::Mat query_image = Texture(1), reference_image = Texture(3);
  ChangeDetectorOptions options;
  options.eps_px = 10;
  options.detect_missing = false;
  options.photometric.patch_radius = 35;
  const ChangeDetectionResult result = scene.Run(options, query_image, reference_image);
  EXPECT_TRUE(result.anomalies.empty());
  EXPECT_TRUE(result.cluster_points.empty());
  // Away from the border the same points are judged, and are unexplained.
  Scene lower({4.f, 20.f});
  lower.AddUnmatched(Blob(203, 122, 4, 3.f));
  EXPECT_EQ(lower.Run(options, query_image, reference_image).anomalies.size(), 1u);
}

TEST(ChangeDetector, UnsegmentedBlobBecomesACluster) {
  Scene scene;
  scene.AddUnmatched(Blob(203, 203, 4, 5.f));  // 16 points, no instance covers them
  ChangeDetectorOptions options;
  options.eps_px = 10;
  const ChangeDetectionResult result = scene.Run(options);
  ASSERT_EQ(result.anomalies.size(), 1u);
  EXPECT_EQ(result.anomalies[0].source, "cluster");
  EXPECT_EQ(result.anomalies[0].label, "unknown");
  EXPECT_EQ(result.anomalies[0].num_unmatched, 16);
  EXPECT_TRUE(result.anomalies[0].bbox.contains({210, 210}));
}

TEST(ChangeDetector, ClusterAmongMatchedPointsIsDroppedByExcessRuleOnly) {
  Scene scene;
  // 5 unmatched points spread over an area holding many matched grid points.
  // Their hull (grown by 8 px) holds 9 matched grid points: 5 - 9 < 1.
  scene.AddUnmatched({{200, 200}, {250, 200}, {200, 250}, {250, 250}, {225, 225}});
  ChangeDetectorOptions options;
  options.eps_px = 40;
  options.detect_missing = false;
  EXPECT_TRUE(scene.Run(options).anomalies.empty());
  options.cluster_excess_rule = false;  // the paper: every cluster is an anomaly
  EXPECT_EQ(scene.Run(options).anomalies.size(), 1u);
}

TEST(ChangeDetector, PointsOutsideOverlapAreIgnored) {
  Scene scene;
  scene.AddUnmatched(Blob(620, 465, 3, 4.f));  // beyond the grid's box (max 595, 445)
  ChangeDetectorOptions options;
  options.eps_px = 10;
  const ChangeDetectionResult result = scene.Run(options);
  EXPECT_TRUE(result.anomalies.empty());
  EXPECT_TRUE(result.unmatched_in_overlap.empty());
}

TEST(ChangeDetector, MissingObjectIsMappedIntoTheQuery) {
  Scene scene;
  // Reference-only points around (304, 202) in the reference = (300, 200) in the query.
  scene.AddReferenceOnly(Blob(304, 202, 4, 5.f));
  ChangeDetectorOptions options;
  options.eps_px = 10;
  const ChangeDetectionResult result = scene.Run(options);
  ASSERT_EQ(result.anomalies.size(), 1u);
  EXPECT_EQ(result.anomalies[0].kind, "missing");
  EXPECT_TRUE(result.anomalies[0].bbox.contains({305, 205})) << result.anomalies[0].bbox;
  options.detect_missing = false;
  EXPECT_TRUE(scene.Run(options).anomalies.empty());
}

TEST(ChangeDetector, MissingObjectMostlyOutsideTheQueryOverlapIsNotReported) {
  Scene scene;
  // One more match stretches the reference's overlap to (630, 470) while the query's stays
  // within the grid (595, 445): the reference sees further than the query there.
  scene.AddMatch({590.f, 440.f}, {630.f, 470.f});
  // Reference-only points at (590..602, 440..452): in the query at (586..598, 438..450), their
  // region mostly beyond the query overlap's corner.
  scene.AddReferenceOnly(Blob(590, 440, 4, 4.f));
  ChangeDetectorOptions options;
  options.eps_px = 10;
  EXPECT_TRUE(scene.Run(options).anomalies.empty());
  options.min_missing_inside_fraction = 0;  // report whatever part lies inside
  const ChangeDetectionResult all = scene.Run(options);
  ASSERT_EQ(all.anomalies.size(), 1u);
  EXPECT_EQ(all.anomalies[0].kind, "missing");
  EXPECT_LE(all.anomalies[0].bbox.br().x, 596);
}

TEST(ChangeDetector, TooFewMatchesIsALocalizationErrorNotAWallOfAnomalies) {
  Scene scene;
  for (size_t i = 8; i < scene.matches.matches0.size(); ++i) scene.matches.matches0[i] = -1;
  const ChangeDetectionResult result = scene.Run({});
  EXPECT_TRUE(result.localization_error);
  EXPECT_TRUE(result.anomalies.empty());
  EXPECT_NE(result.note.find("matches"), std::string::npos);
}

TEST(ChangeDetector, AnomaliesCoveringMostOfTheOverlapAreWithheld) {
  Scene scene;
  // 900 unmatched points inside a 420 x 420 instance (~300 matched grid points in it): the
  // instance rule fires, and the anomaly covers ~72% of the overlap (> 60%).
  scene.AddUnmatched(Blob(25, 25, 30, 14.f));
  scene.AddInstance({20, 20, 420, 420}, "wall");
  const ChangeDetectionResult result = scene.Run({});
  EXPECT_TRUE(result.localization_error);
  EXPECT_GT(result.withheld_anomalies, 0);
  EXPECT_TRUE(result.anomalies.empty());
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

ChangeDetectionResult ResultWith(std::vector<cv::Rect> boxes, cv::Rect overlap) {
  ChangeDetectionResult result;
  result.overlap.mask = cv::Mat::zeros(kSize, CV_8U);
  result.overlap.mask(overlap).setTo(255);
  for (const cv::Rect& box : boxes) {
    Anomaly anomaly;
    anomaly.mask = cv::Mat::zeros(kSize, CV_8U);
    anomaly.mask(box).setTo(255);
    anomaly.bbox = box;
    result.anomalies.push_back(anomaly);
  }
  return result;
}

TEST(ChangeDetector, SecondViewConfirmsSharedChangesAndDropsViewpointArtifacts) {
  const cv::Rect full(0, 0, 640, 480);
  // First view: a real object at (100,100) and an artifact at (400,300).
  ChangeDetectionResult first = ResultWith({{100, 100, 50, 50}, {400, 300, 40, 40}}, full);
  // Second view sees the object again (shifted a little), not the artifact.
  const ChangeDetectionResult second = ResultWith({{110, 105, 50, 50}}, full);
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 1);
  ASSERT_EQ(first.anomalies.size(), 1u);
  EXPECT_EQ(first.anomalies[0].bbox, cv::Rect(100, 100, 50, 50));
  ASSERT_EQ(first.unconfirmed.size(), 1u);
  EXPECT_EQ(first.unconfirmed[0].bbox, cv::Rect(400, 300, 40, 40));
}

TEST(ChangeDetector, SecondViewConfirmsOnlyTheSameKindOfChange) {
  const cv::Rect full(0, 0, 640, 480);
  // First view: something new at (100,100) and something missing at (400,300).
  ChangeDetectionResult first = ResultWith({{100, 100, 50, 50}, {400, 300, 40, 40}}, full);
  first.anomalies[1].kind = "missing";
  // Second view: the same two places, with the kinds swapped, as a disocclusion does (the
  // first reference hides what the query shows; the second sees something the query hides).
  ChangeDetectionResult second = ResultWith({{100, 100, 50, 50}, {400, 300, 40, 40}}, full);
  second.anomalies[0].kind = "missing";
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 2);
  EXPECT_TRUE(first.anomalies.empty());

  // With the kinds agreeing, both are confirmed.
  first = ResultWith({{100, 100, 50, 50}, {400, 300, 40, 40}}, full);
  first.anomalies[1].kind = "missing";
  second.anomalies[0].kind = "new";
  second.anomalies[1].kind = "missing";
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 0);
  EXPECT_EQ(first.anomalies.size(), 2u);
}

TEST(ChangeDetector, SecondViewMustLeaveMostOfANewAnomalysKeypointsUnexplained) {
  const cv::Rect full(0, 0, 640, 480);
  ChangeDetectionResult first = ResultWith({{100, 100, 50, 50}}, full);
  first.anomalies[0].keypoints = {1, 2, 3, 4};
  // The second view flags the same area, but matches three of the four keypoints: the second
  // reference shows what the first did not (a disocclusion), so this is no new object.
  ChangeDetectionResult second = ResultWith({{100, 100, 50, 50}}, full);
  second.matched_in_overlap = {0, 1, 2};
  second.explained = {3};
  second.unexplained = {4, 5};
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 1);
  EXPECT_TRUE(first.anomalies.empty());

  // Two of four unexplained there: half, which is enough by default.
  first = ResultWith({{100, 100, 50, 50}}, full);
  first.anomalies[0].keypoints = {1, 2, 3, 4};
  second.matched_in_overlap = {1, 2};
  second.explained = {};
  second.unexplained = {3, 4};
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 0);
  SecondViewOptions stricter;
  stricter.min_keypoint_share = 0.75;
  EXPECT_EQ(ConfirmWithSecondView(second, stricter, &first), 1);

  // Fewer judged keypoints than min_judged_keypoints (3): the area decides alone.
  first = ResultWith({{100, 100, 50, 50}}, full);
  first.anomalies[0].keypoints = {1, 2, 7, 8};  // 7 and 8 lie outside the second overlap
  second.matched_in_overlap = {1, 2};
  second.unexplained = {};
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 0);
  EXPECT_EQ(first.anomalies.size(), 1u);

  SecondViewOptions bad;
  bad.min_keypoint_share = 1.5;
  EXPECT_THROW(ConfirmWithSecondView(second, bad, &first), Error);
}

TEST(ChangeDetector, AnomalyOutsideTheSecondViewIsKept) {
  ChangeDetectionResult first = ResultWith({{10, 10, 40, 40}}, {0, 0, 640, 480});
  // The second overlap does not contain the anomaly: it cannot judge it.
  const ChangeDetectionResult second = ResultWith({}, {200, 0, 440, 480});
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 0);
  EXPECT_EQ(first.anomalies.size(), 1u);
}

TEST(ChangeDetector, SecondViewWithLocalizationErrorConfirmsNothingAway) {
  ChangeDetectionResult first = ResultWith({{10, 10, 40, 40}}, {0, 0, 640, 480});
  ChangeDetectionResult second = ResultWith({}, {0, 0, 640, 480});
  second.localization_error = true;
  EXPECT_EQ(ConfirmWithSecondView(second, {}, &first), 0);
  EXPECT_EQ(first.anomalies.size(), 1u);
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// Keypoints q[i] and r[i] matched one to one (confidence 1), unit scores.
struct MatchedPair {
  Features query, reference;
  Matches matches;
  MatchedPair(const std::vector<cv::Point2f>& q, const std::vector<cv::Point2f>& r) {
    query.keypoints.resize(static_cast<int>(q.size()), 2);
    reference.keypoints.resize(static_cast<int>(r.size()), 2);
    query.scores = Eigen::VectorXf::Ones(static_cast<int>(q.size()));
    reference.scores = Eigen::VectorXf::Ones(static_cast<int>(r.size()));
    for (int i = 0; i < static_cast<int>(q.size()); ++i) {
      query.keypoints(i, 0) = q[i].x;
      query.keypoints(i, 1) = q[i].y;
      reference.keypoints(i, 0) = r[i].x;
      reference.keypoints(i, 1) = r[i].y;
      matches.matches0.push_back(i);
      matches.confidence0.push_back(1);
    }
    FillReverseMatches(static_cast<int>(r.size()), &matches);
  }
};

// Static points on a grid of `step` px with `margin` px borders, and where a camera translating
// +20 px along x sees them.
void TranslatedGrid(int step, int margin, std::vector<cv::Point2f>* q, std::vector<cv::Point2f>* r) {
  for (int y = margin; y < kSize.height - margin; y += step) {
    for (int x = margin; x < kSize.width - margin; x += step) {
      q->emplace_back(x, y);
      r->emplace_back(x + 20, y);
    }
  }
}

// A camera translating along x: every static point moves along its (horizontal) epipolar line,
// F = [e]x with the epipole at infinity in x, i.e. reference^T F query = y_r - y_q. On a grid of
// static points (moving +20 px along x) sit a group moved off its epipolar lines (an object
// moved 30 px down: inconsistent, removed however many agree with each other), one point 5 px
// off its line among static neighbours (lens distortion: beyond the 3 px epipolar bound but
// where its neighbours predict, kept), and one far-off mismatch (removed).
TEST(GeometricallyConsistentMatches, KeepsWhatTheGeometryOrTheNeighboursExplain) {
  std::vector<cv::Point2f> q, r;
  TranslatedGrid(40, 40, &q, &r);
  const int static_points = static_cast<int>(q.size());
  const int distorted = 17;
  r[distorted].y += 5;
  const int mismatch = 60;
  r[mismatch] = {500, 90};
  const int moved_begin = static_cast<int>(q.size());
  for (int k = 0; k < 12; ++k) {  // a textured object, matched to where it was
    q.emplace_back(300 + 7 * (k % 4), 200 + 7 * (k / 4));
    r.emplace_back(q.back().x + 20, q.back().y - 30);
  }
  const MatchedPair pair(q, r);
  const Features &fq = pair.query, &fr = pair.reference;
  const Matches& m = pair.matches;
  const cv::Mat f = (cv::Mat_<double>(3, 3) << 0, 0, 0, 0, 0, -1, 0, 1, 0);  // y_r - y_q
  const Matches out = GeometricallyConsistentMatches(fq, fr, m, f, 3.0, 8, 12.0);
  for (int i = 0; i < static_points; ++i) {
    if (i == mismatch) continue;
    EXPECT_EQ(out.matches0[i], i) << "static point " << i;
  }
  EXPECT_EQ(out.matches0[distorted], distorted);
  EXPECT_EQ(out.matches0[mismatch], -1);
  EXPECT_EQ(out.matches1[mismatch], -1);
  for (int i = moved_begin; i < static_cast<int>(q.size()); ++i) EXPECT_EQ(out.matches0[i], -1) << i;
  // Without a fundamental matrix every match counts (the paper's rule).
  EXPECT_EQ(GeometricallyConsistentMatches(fq, fr, m, cv::Mat(), 3.0, 8, 12.0).matches0, m.matches0);
}

// The moved object's keypoints at their new place were matched to the old one, so they counted
// as matched and no change was found there; with the geometry's matches they are unmatched and
// the object is found.
TEST(GeometricallyConsistentMatches, AMovedObjectIsFoundWhereItsMatchesAreInconsistent) {
  std::vector<cv::Point2f> q, r;
  TranslatedGrid(15, 20, &q, &r);
  for (int k = 0; k < 30; ++k) {
    q.emplace_back(300 + 6 * (k % 6), 200 + 6 * (k / 6));
    r.emplace_back(q.back().x + 20, q.back().y - 60);
  }
  const MatchedPair pair(q, r);
  const Features &fq = pair.query, &fr = pair.reference;
  const Matches& m = pair.matches;
  ChangeDetectionInput input{&fq, &fr, &m, kSize, kSize, nullptr, cv::Mat(), cv::Mat()};
  ChangeDetectorOptions options;
  options.eps_px = 15;
  EXPECT_TRUE(DetectChanges(input, options).anomalies.empty());  // no geometry: all matched
  input.fundamental = (cv::Mat_<double>(3, 3) << 0, 0, 0, 0, 0, -1, 0, 1, 0);
  const ChangeDetectionResult result = DetectChanges(input, options);
  int found = 0;
  for (const Anomaly& a : result.anomalies) {
    if (a.kind == "new" && a.bbox.contains({310, 210})) ++found;
  }
  EXPECT_EQ(found, 1);
  options.geometric_matches = false;
  EXPECT_TRUE(DetectChanges(input, options).anomalies.empty());
}

}  // namespace
}  // namespace vigil
