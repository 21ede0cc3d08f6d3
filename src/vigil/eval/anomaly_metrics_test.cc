#include "vigil/eval/anomaly_metrics.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil::eval {
namespace {

// scikit-learn's documented roc_auc_score example: y = [0 0 1 1], s = [.1 .4 .35 .8] -> 0.75.
TEST(AnomalyMetrics, AurocMatchesSklearnExample) {
  EXPECT_DOUBLE_EQ(Auroc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
}

// Ties count 1/2 per (positive, negative) pair, as the trapezoid over distinct thresholds does.
TEST(AnomalyMetrics, AurocHandlesTiesLikeSklearn) {
  // pairs: pos 2 vs neg 1 win, pos 2 vs neg 2 tie, pos 3 wins twice -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(Auroc({1.f, 2.f, 2.f, 3.f}, {0, 0, 1, 1}), 0.875);
  // all tied -> one diagonal ROC step.
  EXPECT_DOUBLE_EQ(Auroc({0.5f, 0.5f, 0.5f, 0.5f}, {0, 1, 0, 1}), 0.5);
  // pos {.2,.9,.1}, neg {.2,.2,.5}: .2 -> 0.5+0.5, .9 -> 3, .1 -> 0; total 4 / 9.
  EXPECT_NEAR(Auroc({0.2f, 0.2f, 0.2f, 0.9f, 0.1f, 0.5f}, {0, 0, 1, 1, 1, 0}), 4.0 / 9.0, 1e-12);
  // inverted ranking gives 0.
  EXPECT_DOUBLE_EQ(Auroc({3.f, 2.f, 1.f}, {0, 1, 1}), 0.0);
}

TEST(AnomalyMetrics, RocCurveHasOnePointPerDistinctThreshold) {
  const RocCurve roc = ComputeRoc({1.f, 2.f, 2.f, 3.f}, {0, 0, 1, 1});
  ASSERT_EQ(roc.fpr.size(), 4u);  // start + thresholds 3, 2, 1
  EXPECT_DOUBLE_EQ(roc.tpr[1], 0.5);
  EXPECT_DOUBLE_EQ(roc.fpr[1], 0.0);
  EXPECT_DOUBLE_EQ(roc.tpr[2], 1.0);
  EXPECT_DOUBLE_EQ(roc.fpr[2], 0.5);
  EXPECT_DOUBLE_EQ(roc.thresholds[2], 2.0);
  EXPECT_DOUBLE_EQ(roc.fpr.back(), 1.0);
}

TEST(AnomalyMetrics, AurocRejectsSingleClassAndSizeMismatch) {
  EXPECT_THROW(Auroc({0.1f, 0.2f}, {0, 0}), Error);
  EXPECT_THROW(Auroc({0.1f, 0.2f}, {0}), Error);
}

TEST(AnomalyMetrics, F1MaxHandComputed) {
  // thresholds .8: F1 2/3; .4: 1/2; .35: 4/5; .1: 2/3.
  double threshold = 0;
  EXPECT_NEAR(F1Max({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}, &threshold), 0.8, 1e-12);
  EXPECT_FLOAT_EQ(static_cast<float>(threshold), 0.35f);
  // A tie between a positive and a negative cannot be split: {.5(+), .5(-)} -> P=.5, R=1.
  EXPECT_NEAR(F1Max({0.5f, 0.5f, 0.1f}, {1, 0, 0}), 2.0 / 3.0, 1e-12);
}

TEST(AnomalyMetrics, PixelAurocPoolsAllPixels) {
  // Two 2x2 maps; positives {.9, .3}, negatives {.1, .2, .4, .3, .2, .0}.
  cv::Mat map0 = (cv::Mat_<float>(2, 2) << 0.9f, 0.1f, 0.2f, 0.4f);
  cv::Mat mask0 = (cv::Mat_<uint8_t>(2, 2) << 255, 0, 0, 0);
  cv::Mat map1 = (cv::Mat_<float>(2, 2) << 0.3f, 0.3f, 0.2f, 0.0f);
  cv::Mat mask1 = (cv::Mat_<uint8_t>(2, 2) << 0, 1, 0, 0);
  // .9 beats 6; .3 beats .1 .2 .2 .0 (4), ties .3 (0.5), loses to .4 -> (6 + 4.5) / 12.
  EXPECT_NEAR(PixelAuroc({map0, map1}, {mask0, mask1}), 10.5 / 12.0, 1e-12);
}

TEST(AnomalyMetrics, PixelMetricsRejectMaskOfWrongSize) {
  cv::Mat map = cv::Mat::zeros(4, 4, CV_32F);
  cv::Mat mask = cv::Mat::zeros(4, 5, CV_8U);
  try {
    PixelAuroc({map}, {mask});
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4x4 but its mask is 5x4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Aupro({map}, {mask}), Error);
}

// One row: regions A = pixels {0,1} (size 2) and B = pixel {5}; normal pixels {2,3,4}.
// Sorted: .9(A) .8(N) .7(B) .3(N) .2(A) .1(N) -> PRO/FPR points (0,.25) (1/3,.25) (1/3,.75)
// (2/3,.75) (2/3,1) (1,1).
TEST(AnomalyMetrics, AuproHandComputed) {
  cv::Mat map = (cv::Mat_<float>(1, 6) << 0.9f, 0.2f, 0.8f, 0.1f, 0.3f, 0.7f);
  cv::Mat mask = (cv::Mat_<uint8_t>(1, 6) << 255, 255, 0, 0, 0, 255);
  // limit 1: 1/3*.25 + 1/3*.75 + 1/3*1 = 2/3.
  EXPECT_NEAR(Aupro({map}, {mask}, 1.0), 2.0 / 3.0, 1e-12);
  // limit .3 falls inside the first flat segment: PRO = .25 throughout.
  EXPECT_NEAR(Aupro({map}, {mask}, 0.3), 0.25, 1e-12);
  // limit .5: (1/12 + (.5 - 1/3) * .75) / .5.
  EXPECT_NEAR(Aupro({map}, {mask}, 0.5), (1.0 / 12 + (0.5 - 1.0 / 3) * 0.75) / 0.5, 1e-12);
}

// Regions are 8-connected: a diagonal step belongs to one region (size 3), so the top pixel
// alone covers 1/3 of it; with 4-connectivity it would be its own region (PRO 1/2).
TEST(AnomalyMetrics, AuproUsesEightConnectedRegions) {
  cv::Mat mask = (cv::Mat_<uint8_t>(3, 3) << 255, 0, 0, 0, 255, 255, 0, 0, 0);
  cv::Mat map = (cv::Mat_<float>(3, 3) << 0.9f, 0.1f, 0.2f, 0.3f, 0.05f, 0.06f, 0.4f, 0.5f, 0.6f);
  EXPECT_NEAR(Aupro({map}, {mask}, 1.0), 1.0 / 3.0, 1e-12);
}

TEST(AnomalyMetrics, AuproPerfectAndRegionAveraging) {
  // Perfect separation -> 1 for any limit.
  cv::Mat map = (cv::Mat_<float>(2, 3) << 5.f, 1.f, 1.f, 1.f, 1.f, 4.f);
  cv::Mat mask = (cv::Mat_<uint8_t>(2, 3) << 1, 0, 0, 0, 0, 1);
  EXPECT_NEAR(Aupro({map}, {mask}), 1.0, 1e-12);
  // Regions in different images are averaged, not pooled by pixel count.
  cv::Mat big_mask = (cv::Mat_<uint8_t>(1, 4) << 1, 1, 1, 0);
  cv::Mat big_map = (cv::Mat_<float>(1, 4) << 0.f, 0.f, 0.f, 0.5f);  // missed region
  cv::Mat small_mask = (cv::Mat_<uint8_t>(1, 2) << 1, 0);
  cv::Mat small_map = (cv::Mat_<float>(1, 2) << 1.f, 0.5f);  // found region
  // Found region gives PRO .5 from FPR 0; the 2 normal pixels (.5) give FPR 1 at once:
  // area over [0, .3] = .3 * .5 -> normalised .5 (pooling by pixels would give .25).
  EXPECT_NEAR(Aupro({big_map, small_map}, {big_mask, small_mask}), 0.5, 1e-12);
  EXPECT_THROW(Aupro({map}, {cv::Mat::zeros(2, 3, CV_8U)}), Error);
}

}  // namespace
}  // namespace vigil::eval
