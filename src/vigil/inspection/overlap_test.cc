#include "vigil/inspection/overlap.h"

#include <opencv2/imgproc.hpp>

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil {
namespace {

// Four matched query points at known places plus one unmatched point outside them.
struct Scene {
  Features query, reference;
  Matches matches;
};

Scene MakeScene(float shift_x) {
  Scene s;
  s.query.keypoints.resize(5, 2);
  s.query.keypoints << 100, 100, 300, 120, 310, 300, 90, 280, 600, 450;
  s.reference.keypoints = s.query.keypoints;
  s.reference.keypoints.col(0).array() += shift_x;
  s.matches.matches0 = {0, 1, 2, 3, -1};
  s.matches.confidence0 = {1, 1, 1, 1, 0};
  FillReverseMatches(5, &s.matches);
  return s;
}

TEST(Overlap, BoxIsMinMaxOfMatchedQueryKeypoints) {
  const Scene s = MakeScene(0);
  OverlapOptions options;
  options.margin_fraction = 0;
  const Overlap o = ComputeOverlap(s.query, s.reference, s.matches, {640, 480}, {640, 480}, options);
  ASSERT_EQ(o.polygon.size(), 4u);
  EXPECT_EQ(o.polygon[0], cv::Point(90, 100));
  EXPECT_EQ(o.polygon[2], cv::Point(310, 300));
  EXPECT_TRUE(InsideMask(o.mask, 200, 200));
  EXPECT_FALSE(InsideMask(o.mask, 600, 450));  // the unmatched point is outside
  EXPECT_NEAR(o.area_fraction, 221.0 * 201.0 / (640 * 480), 1e-9);
}

TEST(Overlap, HullIsInsideBox) {
  const Scene s = MakeScene(0);
  OverlapOptions box, hull;
  hull.method = "hull";
  box.margin_fraction = hull.margin_fraction = 0;
  const Overlap b = ComputeOverlap(s.query, s.reference, s.matches, {640, 480}, {640, 480}, box);
  const Overlap h = ComputeOverlap(s.query, s.reference, s.matches, {640, 480}, {640, 480}, hull);
  EXPECT_LT(h.area_fraction, b.area_fraction);
  EXPECT_EQ(cv::countNonZero(h.mask & ~b.mask), 0);
}

TEST(Overlap, HomographyWarpsReferenceFrame) {
  // Query = reference shifted right by 40 px: the reference frame covers x in [40, 639].
  Features query, reference;
  const int n = 30;
  query.keypoints.resize(n, 2);
  reference.keypoints.resize(n, 2);
  Matches matches;
  for (int i = 0; i < n; ++i) {
    const float x = 20.f + 19.f * i, y = 30.f + (i * 37 % 400);
    reference.keypoints.row(i) << x, y;
    query.keypoints.row(i) << x + 40.f, y;
    matches.matches0.push_back(i);
    matches.confidence0.push_back(1.f);
  }
  FillReverseMatches(n, &matches);
  OverlapOptions options;
  options.method = "homography";
  options.margin_fraction = 0;
  const Overlap o = ComputeOverlap(query, reference, matches, {640, 480}, {640, 480}, options);
  EXPECT_EQ(o.method, "homography");
  EXPECT_FALSE(InsideMask(o.mask, 30, 240));
  EXPECT_TRUE(InsideMask(o.mask, 50, 240));
  EXPECT_TRUE(InsideMask(o.mask, 630, 470));
  EXPECT_NEAR(o.area_fraction, 600.0 / 640.0, 0.01);
}

TEST(Overlap, MarginShrinksTheMaskAwayFromItsEdgeAndTheImageBorder) {
  const Scene s = MakeScene(0);
  OverlapOptions options;
  options.margin_fraction = 0.05;  // 0.05 * 480 = 24 px
  const Overlap o = ComputeOverlap(s.query, s.reference, s.matches, {640, 480}, {640, 480}, options);
  EXPECT_FALSE(InsideMask(o.mask, 100, 200));  // 10 px inside the box's left edge (x = 90)
  EXPECT_TRUE(InsideMask(o.mask, 115, 200));   // 25 px inside
  EXPECT_EQ(cv::boundingRect(o.mask), cv::Rect(90 + 24, 100 + 24, 221 - 48, 201 - 48));
}

TEST(Overlap, TooFewMatchesGiveEmptyOverlap) {
  Scene s = MakeScene(0);
  s.matches.matches0 = {0, 1, -1, -1, -1};
  FillReverseMatches(5, &s.matches);
  const Overlap o = ComputeOverlap(s.query, s.reference, s.matches, {640, 480}, {640, 480}, {});
  EXPECT_EQ(o.area_fraction, 0.0);
}

TEST(Overlap, UnknownMethodIsRejected) {
  OverlapOptions options;
  options.method = "circle";
  EXPECT_THROW(options.Check(), Error);
}

}  // namespace
}  // namespace vigil
