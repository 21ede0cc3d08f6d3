#include "vigil/dense/region_significance.h"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil::dense {
namespace {

// A change-free map as parallax leaves one: low noise (0..10) everywhere, and thin one-pixel
// strips of 100 along "depth edges" (every 40th row and column), which is what makes a pixel
// threshold useless.
ChangeMap CleanMap(cv::Size size, uint64_t seed) {
  ChangeMap m;
  m.new_score = cv::Mat(size, CV_32F);
  cv::RNG rng(seed);
  rng.fill(m.new_score, cv::RNG::UNIFORM, 0, 10);
  for (int y = 7; y < size.height; y += 40) m.new_score.row(y).setTo(100);
  for (int x = 13; x < size.width; x += 40) m.new_score.col(x).setTo(100);
  m.missing_score = m.new_score.clone();
  m.valid = cv::Mat(size, CV_8U, cv::Scalar(255));
  return m;
}

cv::Mat Disc(cv::Size size, cv::Point centre, int radius) {
  cv::Mat mask = cv::Mat::zeros(size, CV_8U);
  cv::circle(mask, centre, radius, cv::Scalar(255), cv::FILLED);
  return mask;
}

const cv::Size kSize(320, 240);

TEST(RegionSignificance, ModerateScoreOverAWholeObjectIsSignificantWhereAPixelThresholdSeesNothing) {
  const std::vector<ChangeMap> clean = {CleanMap(kSize, 1), CleanMap(kSize, 2), CleanMap(kSize, 3)};
  // The per-pixel threshold at a 1e-3 false-alarm rate is the strips' 100: the object's 30 is
  // far below it, yet over the object's area nothing clean comes close.
  EXPECT_NEAR(CalibrateThreshold(clean, 1e-3).threshold, 100, 1e-6);
  ChangeMap query = CleanMap(kSize, 4);
  const cv::Mat object = Disc(kSize, {150, 110}, 18);
  query.new_score.setTo(30, object);
  const RegionTest t = TestRegion(query, object, "new", clean, {});
  EXPECT_TRUE(t.judged);
  EXPECT_TRUE(t.significant);
  EXPECT_GT(t.statistic, 25);
  EXPECT_GT(t.null_samples, 100);
  // Nothing clean scored as high: the permutation p-value floor.
  EXPECT_DOUBLE_EQ(t.null_rate, 1.0 / (1.0 + t.null_samples));
}

TEST(RegionSignificance, ARegionOfAChangeFreeQueryIsNotSignificant) {
  const std::vector<ChangeMap> clean = {CleanMap(kSize, 1), CleanMap(kSize, 2), CleanMap(kSize, 3)};
  const ChangeMap query = CleanMap(kSize, 5);
  // One that crosses a strip, as a clean region beside a depth edge does.
  const cv::Mat region = Disc(kSize, {150, 92}, 12);
  const RegionTest t = TestRegion(query, region, "new", clean, {});
  EXPECT_TRUE(t.judged);
  EXPECT_FALSE(t.significant);
  EXPECT_GT(t.null_rate, 0.05);
}

// The frame null: the query's own map, which carries this view pair's own registration error.
TEST(RegionSignificance, AgainstItsOwnFrameAnObjectStandsOutAndACleanRegionDoesNot) {
  ChangeMap query = CleanMap(kSize, 9);
  const cv::Mat object = Disc(kSize, {230, 170}, 20);
  query.new_score.setTo(30, object);
  const RegionTest t = TestRegion(query, object, "new", {query}, {});
  EXPECT_TRUE(t.significant);
  // Its own placement and those overlapping it are in the null: the rate counts them.
  EXPECT_GT(t.null_rate, 1.0 / (1.0 + t.null_samples));
  EXPECT_LE(t.null_rate, 0.05);
  const cv::Mat elsewhere = Disc(kSize, {80, 70}, 20);
  EXPECT_FALSE(TestRegion(query, elsewhere, "new", {query}, {}).significant);
}

TEST(RegionSignificance, TheCandidatesKindChoosesTheScore) {
  const std::vector<ChangeMap> clean = {CleanMap(kSize, 1), CleanMap(kSize, 2)};
  ChangeMap query = CleanMap(kSize, 6);
  const cv::Mat object = Disc(kSize, {200, 60}, 15);
  query.missing_score.setTo(40, object);  // something the reference shows is gone
  EXPECT_TRUE(TestRegion(query, object, "missing", clean, {}).significant);
  EXPECT_FALSE(TestRegion(query, object, "new", clean, {}).significant);
}

TEST(RegionSignificance, TheFalseAlarmRateIsTheShareOfCleanPlacementsAsHigh) {
  // One clean map of 0 with a 60x60 square of 50: a 20x20 box scores 50 only where it lies
  // inside the square, so with a candidate scoring 20 the null rate is the share of placements
  // overlapping the square by at least 40 %.
  ChangeMap clean;
  clean.new_score = cv::Mat::zeros(kSize, CV_32F);
  clean.new_score(cv::Rect(100, 100, 60, 60)).setTo(50);
  clean.missing_score = clean.new_score.clone();
  clean.valid = cv::Mat(kSize, CV_8U, cv::Scalar(255));
  ChangeMap query;
  query.new_score = cv::Mat::zeros(kSize, CV_32F);
  query.missing_score = query.new_score.clone();
  query.valid = clean.valid.clone();
  const cv::Rect box(10, 10, 20, 20);
  query.new_score(box).setTo(20);
  cv::Mat mask = cv::Mat::zeros(kSize, CV_8U);
  mask(box).setTo(255);
  RegionTestOptions options;
  options.placement_step = 0.5;  // 10-px steps: x, y in 0..300 and 0..220
  const RegionTest t = TestRegion(query, mask, "new", {clean}, options);
  // Placements: 31 x 23 on the grid plus the region's own; a placement's mean is 50 * overlap /
  // 400, >= 20 when the overlap is >= 160 px. Along one axis the overlap of [x, x+20) with
  // [100, 160) for x = 80..160 step 10 is 0,10,20,20,20,20,20,10,0 -> pairs with product >= 160:
  // both overlaps 20 (5 x 5 = 25), or one 20 and one 10 gives 200 (5 x 2 x 2 = 20): 45.
  EXPECT_EQ(t.null_samples, 31 * 23 + 1);
  EXPECT_DOUBLE_EQ(t.null_rate, (1.0 + 45) / (1.0 + t.null_samples));
  EXPECT_FALSE(t.significant);  // 46 / 715 > 0.05
  options.false_alarm_rate = 0.07;
  EXPECT_TRUE(TestRegion(query, mask, "new", {clean}, options).significant);
}

TEST(RegionSignificance, UnseenRegionsAndMissingCleanMapsAreNotJudged) {
  const std::vector<ChangeMap> clean = {CleanMap(kSize, 1)};
  ChangeMap query = CleanMap(kSize, 7);
  const cv::Mat object = Disc(kSize, {60, 60}, 15);
  query.new_score.setTo(60, object);
  query.valid.setTo(0, Disc(kSize, {60, 60}, 40));  // no reference sees it
  const RegionTest unseen = TestRegion(query, object, "new", clean, {});
  EXPECT_FALSE(unseen.judged);
  EXPECT_FALSE(unseen.significant);
  query.valid.setTo(255);
  EXPECT_FALSE(TestRegion(query, object, "new", {}, {}).judged);
  EXPECT_FALSE(TestRegion(query, cv::Mat::zeros(kSize, CV_8U), "new", clean, {}).judged);
  EXPECT_TRUE(TestRegion(query, object, "new", clean, {}).significant);
}

TEST(RegionSignificance, BadInputAndOptionsAreNamed) {
  const ChangeMap query = CleanMap(kSize, 8);
  EXPECT_THROW(TestRegion(query, cv::Mat::zeros(10, 10, CV_8U), "new", {}, {}), Error);
  EXPECT_THROW(TestRegion(query, cv::Mat::zeros(kSize, CV_8U), "moved", {}, {}), Error);
  RegionTestOptions null;
  null.null = "yesterday";
  EXPECT_THROW(null.Check(), Error);
  RegionTestOptions options;
  options.false_alarm_rate = 0;
  try {
    options.Check();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dense_confirm.false_alarm_rate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vigil::dense
