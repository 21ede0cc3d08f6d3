#include "vigil/dense/registration.h"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/dense/change_map.h"
#include "vigil/dense/dense_test_util.h"
#include "vigil/util/check.h"

namespace vigil::dense {
namespace {

using testing_util::Texture;

TEST(RegistrationTest, HomographyMapsEveryPixelAndMarksWhatLiesOutside) {
  const cv::Mat h = (cv::Mat_<double>(3, 3) << 1, 0, 5, 0, 1, 3, 0, 0, 1);  // q(x,y) -> r(x+5,y+3)
  const Registration reg = RegistrationFromHomography(h, {40, 30}, {40, 30});
  EXPECT_FLOAT_EQ(reg.map_x.at<float>(10, 7), 12.f);
  EXPECT_FLOAT_EQ(reg.map_y.at<float>(10, 7), 13.f);
  EXPECT_EQ(reg.valid.at<uint8_t>(10, 7), 255);
  EXPECT_EQ(reg.valid.at<uint8_t>(10, 35), 0);  // x + 5 = 40 is outside a 40-wide reference
  EXPECT_EQ(reg.valid.at<uint8_t>(27, 7), 0);   // y + 3 = 30 likewise
  EXPECT_EQ(cv::countNonZero(reg.valid), 35 * 27);
  EXPECT_FALSE(IsIdentity(reg));
  EXPECT_TRUE(IsIdentity(RegistrationFromHomography(cv::Mat(), {40, 30}, {40, 30})));
}

TEST(RegistrationTest, WarpToQueryUndoesAKnownShift) {
  const cv::Mat reference = Texture({120, 90}, 3);
  const cv::Mat h = (cv::Mat_<double>(3, 3) << 1, 0, 4, 0, 1, 2, 0, 0, 1);
  const cv::Mat warped = WarpToQuery(reference, RegistrationFromHomography(h, {100, 80}, reference.size()));
  ASSERT_EQ(warped.size(), cv::Size(100, 80));
  EXPECT_EQ(cv::norm(warped, reference(cv::Rect(4, 2, 100, 80)), cv::NORM_INF), 0);
}

TEST(RegistrationTest, RejectsMalformedInput) {
  EXPECT_THROW(RegistrationFromHomography(cv::Mat::eye(2, 3, CV_64F), {10, 10}, {10, 10}), Error);
  cv::Mat nan = cv::Mat::eye(3, 3, CV_64F);
  nan.at<double>(0, 2) = std::nan("");
  EXPECT_THROW(RegistrationFromHomography(nan, {10, 10}, {10, 10}), Error);
  EXPECT_THROW(RegistrationFromHomography(cv::Mat(), {0, 10}, {10, 10}), Error);
  const Registration reg = RegistrationFromHomography(cv::Mat(), {10, 10}, {10, 10});
  EXPECT_THROW(WarpToQuery(cv::Mat(12, 10, CV_8U), reg), Error);
  const cv::Mat image = Texture({64, 48}, 1);
  EXPECT_THROW(RegistrationFromMatches(image, image, {{1, 1}}, {}, {}), Error);
  FlowRegistrationOptions bad;
  bad.refine = "variational";
  EXPECT_THROW(bad.Check(), Error);
}

TEST(RegistrationTest, TooFewMatchesGiveNoFlow) {
  const cv::Mat image = Texture({64, 48}, 1);
  std::vector<cv::Point2f> points = {{5, 5}, {30, 20}, {50, 40}};
  EXPECT_TRUE(RegistrationFromMatches(image, image, points, points, {}).empty());
  EXPECT_TRUE(FlowPairFromMatches(image, image, points, points, {}).empty());
}

TEST(RegistrationTest, FewerMatchesThanTheNeighbourhoodSizeStillInterpolate) {
  const cv::Mat image = Texture({160, 120}, 5);
  std::vector<cv::Point2f> q, r;
  // A slight zoom about (80, 60) plus a shift: r = 1.02 (q - c) + c + (3, 2).
  const cv::Point2f c(80, 60);
  for (int k = 0; k < 25; ++k) {
    q.emplace_back(10.f + 27.f * static_cast<float>(k % 5), 10.f + 22.f * static_cast<float>(k / 5));
    r.push_back(1.02f * (q.back() - c) + c + cv::Point2f(3, 2));
  }
  FlowRegistrationOptions options;  // k = 128 > 25 matches
  options.refine = "none";          // the images are equal: a photometric refinement would undo the shift
  const Registration reg = RegistrationFromMatches(image, image, q, r, options);
  ASSERT_FALSE(reg.empty());
  EXPECT_NEAR(reg.map_x.at<float>(50, 60), 1.02f * (60 - 80) + 80 + 3, 1.0);
  EXPECT_NEAR(reg.map_y.at<float>(50, 60), 1.02f * (50 - 60) + 60 + 2, 1.0);
}

// OpenCV's interpolator gives zero flow when every match has the same displacement; such a
// registration must be refused (empty), never used as if it were right.
TEST(RegistrationTest, AFlowThatDoesNotReproduceItsMatchesIsRefused) {
  const cv::Mat image = Texture({160, 120}, 5);
  std::vector<cv::Point2f> q, r;
  for (int y = 5; y < 115; y += 10)
    for (int x = 5; x < 155; x += 10) {
      q.emplace_back(static_cast<float>(x), static_cast<float>(y));
      r.push_back(q.back() + cv::Point2f(3, 2));
    }
  FlowRegistrationOptions options;
  options.refine = "none";
  const Registration reg = RegistrationFromMatches(image, image, q, r, options);
  if (!reg.empty()) {  // a fixed OpenCV: then it must be right
    EXPECT_NEAR(reg.map_x.at<float>(50, 60), 63.f, 1.0);
  }
  EXPECT_EQ(FlowPairFromMatches(image, image, q, r, options).empty(), reg.empty());
}

// A two-layer scene: the reference is the query's content shifted by (6, 4) on the left half and
// by (12, 4) on the right half (a nearer surface moves more: parallax no one homography explains).
struct TwoLayers {
  cv::Mat query, reference;
  std::vector<cv::Point2f> query_points, reference_points;
  static cv::Point2f Shift(float x) { return x < 120 ? cv::Point2f(6, 4) : cv::Point2f(12, 4); }
};

TwoLayers MakeTwoLayers() {
  TwoLayers s;
  const cv::Mat big = Texture({300, 220}, 11);
  s.reference = big(cv::Rect(0, 0, 260, 200)).clone();
  s.query = cv::Mat(180, 240, CV_8U);
  for (int y = 0; y < s.query.rows; ++y) {
    for (int x = 0; x < s.query.cols; ++x) {
      const cv::Point2f d = TwoLayers::Shift(static_cast<float>(x));
      s.query.at<uint8_t>(y, x) = s.reference.at<uint8_t>(y + static_cast<int>(d.y), x + static_cast<int>(d.x));
    }
  }
  for (int y = 6; y < 176; y += 10) {
    for (int x = 6; x < 236; x += 10) {
      const cv::Point2f q(static_cast<float>(x), static_cast<float>(y));
      s.query_points.push_back(q);
      s.reference_points.push_back(q + TwoLayers::Shift(q.x));
    }
  }
  return s;
}

TEST(RegistrationTest, FlowFromMatchesFollowsTwoDepthLayers) {
  const TwoLayers s = MakeTwoLayers();
  for (const char* refine : {"none", "dis"}) {
    FlowRegistrationOptions options;
    options.refine = refine;
    const Registration reg = RegistrationFromMatches(s.query, s.reference, s.query_points,
                                                     s.reference_points, options);
    ASSERT_FALSE(reg.empty());
    int good = 0, total = 0;
    // Inside the matches' extent; within ~40 px of the left and right borders OpenCV's
    // interpolator falls back towards zero flow (measured: 2-7 px error there).
    for (int y = 10; y < 170; ++y) {
      for (int x = 40; x < 200; ++x) {
        // The depth edge has no intensity edge in this texture to guide the interpolation, so
        // a band around it is left out.
        if (std::abs(x - 120) < 16) continue;
        const cv::Point2f d = TwoLayers::Shift(static_cast<float>(x));
        ++total;
        good += std::abs(reg.map_x.at<float>(y, x) - (x + d.x)) < 1.f &&
                std::abs(reg.map_y.at<float>(y, x) - (y + d.y)) < 1.f;
      }
    }
    EXPECT_GT(good, 0.9 * total) << refine;  // one homography is right on one layer only (~50 %)
    // A homography fitted to the same matches cannot be right on both layers; the flow must be.
    const cv::Mat warped = WarpToQuery(s.reference, reg);
    cv::Mat diff;
    cv::absdiff(warped(cv::Rect(40, 10, 60, 160)), s.query(cv::Rect(40, 10, 60, 160)), diff);
    EXPECT_LT(cv::mean(diff)[0], 3.0) << refine;
  }
}

// SIFT gives one keypoint per orientation at one position, so matches can share a pixel; and a
// keypoint can lie a fraction of a pixel outside. OpenCV's interpolator leaves such matches
// without a graph node and then indexes its match list with -1 (it crashed on changes-freiburg
// with SIFT). Both are dropped first: the flow is the one the clean matches give.
TEST(RegistrationTest, MatchesSharingAPixelOrOutsideTheImageAreDroppedNotFatal) {
  const TwoLayers s = MakeTwoLayers();
  std::vector<cv::Point2f> q = s.query_points, r = s.reference_points;
  for (size_t i = 0; i < s.query_points.size(); i += 3) {
    q.push_back(s.query_points[i] + cv::Point2f(0.2f, -0.1f));  // same pixel, another "orientation"
    r.push_back(s.reference_points[i] + cv::Point2f(9, 9));      // ... matched elsewhere
  }
  q.emplace_back(-0.7f, 20.f);
  r.emplace_back(5.f, 24.f);
  q.emplace_back(239.6f, 50.f);
  r.emplace_back(250.f, 54.f);
  FlowRegistrationOptions options;
  options.refine = "none";
  const Registration clean = RegistrationFromMatches(s.query, s.reference, s.query_points, s.reference_points, options);
  const Registration reg = RegistrationFromMatches(s.query, s.reference, q, r, options);
  ASSERT_FALSE(reg.empty());
  cv::Mat dx, dy;
  cv::absdiff(reg.map_x, clean.map_x, dx);
  cv::absdiff(reg.map_y, clean.map_y, dy);
  double mx = 0, my = 0;
  cv::minMaxLoc(dx, nullptr, &mx);
  cv::minMaxLoc(dy, nullptr, &my);
  EXPECT_LT(mx, 1e-3);
  EXPECT_LT(my, 1e-3);
  EXPECT_FALSE(FlowPairFromMatches(s.query, s.reference, q, r, {}).empty());
}

// Each registration of a pair is its own: valid says exactly where its own maps lie inside the
// other image. The refined flow started as a shallow copy of the interpolated one, and its
// validity used to be written into the interpolated one's shared buffer.
TEST(RegistrationTest, EachFlowOfAPairKeepsItsOwnValidity) {
  TwoLayers s = MakeTwoLayers();
  s.query(cv::Rect(30, 40, 50, 40)).setTo(250);  // content the refinement must route around
  const FlowPair pair = FlowPairFromMatches(s.query, s.reference, s.query_points, s.reference_points, {});
  ASSERT_FALSE(pair.empty());
  FlowRegistrationOptions options;
  options.refine = "none";
  const Registration smooth = RegistrationFromMatches(s.query, s.reference, s.query_points, s.reference_points, options);
  EXPECT_EQ(cv::norm(smooth.valid, pair.query_to_reference_smooth.valid, cv::NORM_INF), 0);
  for (const Registration* reg : {&pair.query_to_reference, &pair.query_to_reference_smooth}) {
    cv::Mat inside = (reg->map_x >= 0) & (reg->map_y >= 0) & (reg->map_x <= reg->reference_size.width - 1) &
                     (reg->map_y <= reg->reference_size.height - 1);
    EXPECT_EQ(cv::norm(inside, reg->valid, cv::NORM_INF), 0);
  }
  EXPECT_NE(pair.query_to_reference.valid.data, pair.query_to_reference_smooth.valid.data);
}

TEST(RegistrationTest, FlowPairScoresNewInTheQueryAndMissingFromTheReference) {
  TwoLayers s = MakeTwoLayers();
  // New: a flat blob pasted into the query. Missing: a textured patch of the reference flattened
  // away in the query (the query shows a uniform surface where the reference has texture).
  const cv::Rect blob(30, 40, 36, 30), removed(150, 100, 40, 36);
  s.query(blob).setTo(250);
  s.query(removed).setTo(128);
  // Matches only where the scene is unchanged, as a verification leaves them.
  std::vector<cv::Point2f> qp, rp;
  for (size_t i = 0; i < s.query_points.size(); ++i) {
    const cv::Point p(static_cast<int>(s.query_points[i].x), static_cast<int>(s.query_points[i].y));
    if (blob.contains(p) || removed.contains(p)) continue;
    qp.push_back(s.query_points[i]);
    rp.push_back(s.reference_points[i]);
  }
  const FlowPair pair = FlowPairFromMatches(s.query, s.reference, qp, rp, {});
  ASSERT_FALSE(pair.empty());
  const DenseChangeOptions options;
  const ChangeMap map = ScoreFlowPair(s.query, s.reference, pair, options);
  const cv::Rect inner_blob(blob.x + 6, blob.y + 6, blob.width - 12, blob.height - 12);
  const cv::Rect inner_removed(removed.x + 6, removed.y + 6, removed.width - 12, removed.height - 12);
  EXPECT_GT(cv::mean(map.new_score(inner_blob))[0], 40);
  EXPECT_GT(cv::mean(map.missing_score(inner_removed))[0], 20);
  // Away from both changes and the depth edge the scene is explained.
  const cv::Rect clean(30, 110, 60, 50);
  EXPECT_LT(cv::mean(map.Score()(clean))[0], 8);
  const auto regions = ExtractRegions(map, 30, options);
  bool found_new = false, found_missing = false;
  for (const auto& r : regions) {
    found_new |= r.kind == "new" && (r.bbox & blob).area() > 0;
    found_missing |= r.kind == "missing" && (r.bbox & removed).area() > 0;
  }
  EXPECT_TRUE(found_new);
  EXPECT_TRUE(found_missing);
}

TEST(RegistrationTest, ScoreFlowPairRejectsRegistrationsOfOtherImages) {
  const TwoLayers s = MakeTwoLayers();
  const FlowPair pair = FlowPairFromMatches(s.query, s.reference, s.query_points, s.reference_points, {});
  ASSERT_FALSE(pair.empty());
  EXPECT_THROW(ScoreFlowPair(s.reference, s.query, pair, {}), Error);
  EXPECT_THROW(ScoreFlowPair(s.query, s.reference, FlowPair{}, {}), Error);
}

}  // namespace
}  // namespace vigil::dense
