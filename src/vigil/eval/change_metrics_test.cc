#include "vigil/eval/change_metrics.h"

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::eval {
namespace {
namespace fs = std::filesystem;

// Fills the inclusive rectangle [x0, x1] x [y0, y1] with `value`.
void Fill(cv::Mat& image, int x0, int y0, int x1, int y1, int value) {
  image(cv::Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1)).setTo(value);
}

// 20x20 query: change 1 (textured) = [0,9]x[0,9] (100 px), change 2 (removed) = [15,19]x[15,19]
// (25 px).
cv::Mat TwoChangeLabels() {
  cv::Mat labels = cv::Mat::zeros(20, 20, CV_8U);
  Fill(labels, 0, 0, 9, 9, 1);
  Fill(labels, 15, 15, 19, 19, 2);
  return labels;
}
const std::vector<GroundTruthChange> kTwoChanges = {{1, "textured", 100}, {2, "removed", 25}};

// Region A: [0,9]x[0,1] = 20 px, all on change 1 (covers exactly 20% of it: found).
// Region B: [12,13]x[0,9] = 20 px on nothing (false alarm).
// Region C: [14,19]x[18,19] = 12 px, 10 on change 2 (true; covers 10/25 = 40% of change 2).
cv::Mat ThreeRegionPrediction() {
  cv::Mat predicted = cv::Mat::zeros(20, 20, CV_8U);
  Fill(predicted, 0, 0, 9, 1, 255);
  Fill(predicted, 12, 0, 13, 9, 255);
  Fill(predicted, 14, 18, 19, 19, 1);  // any value > 0 is a predicted change
  return predicted;
}

TEST(ChangeMetrics, HandMadeQueryObjectAndPixelCounts) {
  const QueryChangeResult r = EvaluateChangeQuery(TwoChangeLabels(), kTwoChanges, ThreeRegionPrediction());
  EXPECT_EQ(r.change_types, (std::vector<std::string>{"removed", "textured"}));
  EXPECT_EQ(r.change_found, (std::vector<bool>{true, true}));
  EXPECT_EQ(r.overall.changes, 2);
  EXPECT_EQ(r.overall.changes_found, 2);
  EXPECT_EQ(r.overall.regions, 3);
  EXPECT_EQ(r.overall.regions_true, 2);
  EXPECT_EQ(r.overall.tp_px, 30);   // 20 (A) + 10 (C)
  EXPECT_EQ(r.overall.fp_px, 22);   // 20 (B) + 2 (C off the change)
  EXPECT_EQ(r.overall.fn_px, 95);   // 80 + 15
  EXPECT_EQ(r.overall.images_correct, 1);

  const ChangeScores s = ScoresFromCounts(r.overall);
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  EXPECT_DOUBLE_EQ(s.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.f1, 0.8);  // 2 * (2/3) * 1 / (2/3 + 1)
  EXPECT_DOUBLE_EQ(s.pixel_iou, 30.0 / 147.0);
  EXPECT_DOUBLE_EQ(s.pixel_f1, 60.0 / 177.0);
  EXPECT_DOUBLE_EQ(s.image_accuracy, 1.0);

  // By type: each true region goes to the type it lies on; the false alarm B counts for both.
  const ChangeCounts& textured = r.by_type.at("textured");
  EXPECT_EQ(textured.changes, 1);
  EXPECT_EQ(textured.regions, 2);       // A + B
  EXPECT_EQ(textured.regions_true, 1);  // A
  EXPECT_EQ(textured.tp_px, 20);
  EXPECT_EQ(textured.fn_px, 80);
  EXPECT_EQ(textured.fp_px, 22);  // removed-change pixels are don't-care, not false positives
  const ChangeCounts& removed = r.by_type.at("removed");
  EXPECT_EQ(removed.regions, 2);  // C + B
  EXPECT_EQ(removed.regions_true, 1);
  EXPECT_EQ(removed.tp_px, 10);
  EXPECT_EQ(removed.fn_px, 15);
}

TEST(ChangeMetrics, ThresholdsAreInclusiveAtTheStatedFractions) {
  cv::Mat labels = cv::Mat::zeros(30, 30, CV_16U);  // 16-bit labels are read too
  Fill(labels, 0, 0, 9, 9, 7);                        // change 7: 100 px
  Fill(labels, 20, 0, 29, 9, 9);                      // change 9: 100 px
  const std::vector<GroundTruthChange> changes = {{7, "textured", 100}, {9, "textureless", 100}};
  cv::Mat predicted = cv::Mat::zeros(30, 30, CV_8U);
  Fill(predicted, 0, 0, 9, 1, 255);   // change 7: 20 px covered = 20% -> found
  Fill(predicted, 20, 0, 28, 1, 255);  // change 9: 18 px covered ...
  Fill(predicted, 29, 0, 29, 0, 255);  // ... + 1 px = 19 px < 20% -> missed
  Fill(predicted, 0, 20, 9, 21, 255);  // 20 px on nothing: false alarm
  const QueryChangeResult r = EvaluateChangeQuery(labels, changes, predicted);
  EXPECT_EQ(r.change_found, (std::vector<bool>{true, false}));
  EXPECT_EQ(r.overall.regions, 3);
  EXPECT_EQ(r.overall.regions_true, 2);

  // Region-on-change fraction: 2 of 20 px (10%) is true, 2 of 21 px is a false alarm.
  cv::Mat l2 = cv::Mat::zeros(10, 40, CV_8U);
  Fill(l2, 0, 0, 1, 0, 1);    // change 1: 2 px
  Fill(l2, 20, 0, 21, 0, 2);  // change 2: 2 px
  cv::Mat p2 = cv::Mat::zeros(10, 40, CV_8U);
  Fill(p2, 0, 0, 1, 9, 255);    // 20 px, 2 on change 1
  Fill(p2, 20, 0, 21, 9, 255);  // 20 px, 2 on change 2 ...
  Fill(p2, 22, 0, 22, 0, 255);  // ... + 1 px -> 21 px
  const QueryChangeResult r2 = EvaluateChangeQuery(
      l2, {{1, "textured", 2}, {2, "textured", 2}}, p2);
  EXPECT_EQ(r2.overall.regions, 2);
  EXPECT_EQ(r2.overall.regions_true, 1);
  EXPECT_EQ(r2.overall.changes_found, 2);  // both changes fully covered
}

TEST(ChangeMetrics, RegionGoesToTheTypeItOverlapsMost) {
  cv::Mat labels = cv::Mat::zeros(10, 20, CV_8U);
  Fill(labels, 0, 0, 4, 9, 1);  // textured: 50 px
  Fill(labels, 5, 0, 9, 9, 2);  // textureless: 50 px, adjacent
  cv::Mat predicted = cv::Mat::zeros(10, 20, CV_8U);
  Fill(predicted, 3, 0, 9, 9, 255);  // 20 px on 1, 50 px on 2: one region, textureless
  const QueryChangeResult r =
      EvaluateChangeQuery(labels, {{1, "textured", 50}, {2, "textureless", 50}}, predicted);
  EXPECT_EQ(r.overall.regions, 1);
  EXPECT_EQ(r.by_type.at("textureless").regions_true, 1);
  EXPECT_EQ(r.by_type.at("textured").regions, 0);  // not charged to textured at all
  EXPECT_EQ(r.by_type.at("textured").changes_found, 1);  // 20/50 = 40% covered
}

TEST(ChangeMetrics, SmallRegionsIgnoredAndEmptyPrediction) {
  const cv::Mat labels = TwoChangeLabels();
  ChangeMetricsOptions options;
  options.min_region_px = 13;  // drops region C (12 px)
  const QueryChangeResult r = EvaluateChangeQuery(labels, kTwoChanges, ThreeRegionPrediction(), options);
  EXPECT_EQ(r.overall.regions, 2);
  EXPECT_EQ(r.change_found, (std::vector<bool>{true, false}));
  EXPECT_EQ(r.overall.tp_px, 20);
  EXPECT_EQ(r.overall.fp_px, 20);

  const QueryChangeResult empty = EvaluateChangeQuery(labels, kTwoChanges, cv::Mat());
  EXPECT_EQ(empty.overall.regions, 0);
  EXPECT_EQ(empty.overall.changes_found, 0);
  EXPECT_EQ(empty.overall.images_correct, 0);
  const ChangeScores s = ScoresFromCounts(empty.overall);
  EXPECT_TRUE(std::isnan(s.precision));  // nothing predicted: undefined, not 0 or 1
  EXPECT_DOUBLE_EQ(s.recall, 0.0);
  EXPECT_DOUBLE_EQ(s.f1, 0.0);
  EXPECT_DOUBLE_EQ(s.pixel_iou, 0.0);
}

TEST(ChangeMetrics, AggregatePoolsAndChargesUnchangedQueriesToEveryType) {
  QueryChangeResult a = EvaluateChangeQuery(TwoChangeLabels(), kTwoChanges, ThreeRegionPrediction());
  a.query = "a.png";
  a.reference = "r.png";
  a.retrieval_correct = true;
  // Unchanged query with one 6-px false alarm.
  cv::Mat predicted = cv::Mat::zeros(20, 20, CV_8U);
  Fill(predicted, 0, 0, 2, 1, 255);
  QueryChangeResult u = EvaluateChangeQuery(cv::Mat::zeros(20, 20, CV_8U), {}, predicted);
  u.query = "u.png";
  u.retrieval_correct = false;
  u.has_prediction = true;
  // Unchanged query with nothing predicted: a correct negative.
  QueryChangeResult n = EvaluateChangeQuery(cv::Mat::zeros(20, 20, CV_8U), {}, cv::Mat());
  n.query = "n.png";
  n.has_prediction = false;

  const ChangeEvaluation e = AggregateChangeEvaluations({a, u, n});
  EXPECT_EQ(e.overall.counts.regions, 4);
  EXPECT_EQ(e.overall.counts.regions_true, 2);
  EXPECT_DOUBLE_EQ(e.overall.precision, 0.5);
  EXPECT_DOUBLE_EQ(e.overall.recall, 1.0);
  EXPECT_DOUBLE_EQ(e.overall.pixel_iou, 30.0 / (30 + 28 + 95));
  EXPECT_DOUBLE_EQ(e.overall.image_accuracy, 2.0 / 3.0);  // a and n right, u wrong
  ASSERT_EQ(e.by_type.size(), 2u);
  // textured: A true, B and u's region false; images a, u, n.
  const ChangeScores& t = e.by_type.at("textured");
  EXPECT_EQ(t.counts.regions, 3);
  EXPECT_DOUBLE_EQ(t.precision, 1.0 / 3.0);
  EXPECT_EQ(t.counts.images, 3);
  EXPECT_DOUBLE_EQ(t.image_accuracy, 2.0 / 3.0);
  EXPECT_EQ(t.counts.fp_px, 28);
  EXPECT_DOUBLE_EQ(t.pixel_iou, 20.0 / (20 + 28 + 80));
  const ChangeScores& rm = e.by_type.at("removed");
  EXPECT_DOUBLE_EQ(rm.precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(rm.recall, 1.0);
  EXPECT_DOUBLE_EQ(e.retrieval_accuracy, 0.5);  // n has no pairs entry: not counted
  EXPECT_EQ(e.retrieval_total, 2);
  EXPECT_EQ(e.missing_masks, (std::vector<std::string>{"n.png"}));
  EXPECT_EQ(e.missing_references, (std::vector<std::string>{"u.png", "n.png"}));
}

TEST(ChangeMetrics, BadInputIsAClearError) {
  cv::Mat labels = TwoChangeLabels();
  EXPECT_THROW(EvaluateChangeQuery(labels, {{1, "textured", 100}}, cv::Mat()), Error);  // label 2?
  EXPECT_THROW(EvaluateChangeQuery(labels, kTwoChanges, cv::Mat::zeros(10, 10, CV_8U)), Error);
  EXPECT_THROW(EvaluateChangeQuery(labels, kTwoChanges, cv::Mat::zeros(20, 20, CV_8UC3)), Error);
  std::vector<GroundTruthChange> ghost = kTwoChanges;
  ghost.push_back({3, "textured", 10});  // listed, no pixels
  EXPECT_THROW(EvaluateChangeQuery(labels, ghost, cv::Mat()), Error);
  ChangeMetricsOptions options;
  options.min_coverage = 0;
  EXPECT_THROW(options.Check(), Error);
}

void WriteJson(const fs::path& path, const nlohmann::json& j) {
  WriteTextFileAtomically(path, j.dump());
}

// A two-query dataset on disk in the changes-freiburg layout, predictions for one query only.
TEST(ChangeMetrics, DatasetEndToEndWithMissingPrediction) {
  const fs::path root = testing::MakeTempDir("change_metrics_dataset");
  const fs::path data = root / "data", pred = root / "pred", out = root / "out";
  fs::create_directories(data / "query");
  fs::create_directories(data / "ground_truth");
  fs::create_directories(pred / "masks");
  const cv::Mat blank = cv::Mat::zeros(20, 20, CV_8UC3);
  ASSERT_TRUE(cv::imwrite((data / "query" / "a.png").string(), blank));
  ASSERT_TRUE(cv::imwrite((data / "query" / "b.png").string(), blank));
  ASSERT_TRUE(cv::imwrite((data / "ground_truth" / "a.png").string(), TwoChangeLabels()));
  WriteJson(data / "ground_truth" / "a.json",
            {{"query", "a.png"},
             {"changes", {{{"id", 1}, {"type", "textured"}, {"area_px", 100}},
                          {{"id", 2}, {"type", "removed"}, {"area_px", 25}}}}});
  cv::Mat b_labels = cv::Mat::zeros(20, 20, CV_8U);
  Fill(b_labels, 5, 5, 9, 9, 1);
  ASSERT_TRUE(cv::imwrite((data / "ground_truth" / "b.png").string(), b_labels));
  WriteJson(data / "ground_truth" / "b.json",
            {{"query", "b.png"}, {"changes", {{{"id", 1}, {"type", "textureless"}}}}});
  WriteTextFileAtomically(data / "pairs.csv", "query,reference\r\na.png,ra.png\r\nb.png,rb.png\r\n");
  ASSERT_TRUE(cv::imwrite((pred / "masks" / "a.png").string(), ThreeRegionPrediction()));
  WriteJson(pred / "a.json", {{"reference", {{"image", "ra.png"}, {"rule", "pose"}}}});

  const ChangeEvaluation e = EvaluateChangeDataset(data, pred);
  EXPECT_EQ(e.missing_masks, (std::vector<std::string>{"b.png"}));
  EXPECT_EQ(e.missing_references, (std::vector<std::string>{"b.png"}));
  EXPECT_DOUBLE_EQ(e.retrieval_accuracy, 0.5);
  EXPECT_EQ(e.overall.counts.changes, 3);
  EXPECT_EQ(e.overall.counts.changes_found, 2);
  EXPECT_DOUBLE_EQ(e.overall.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(e.by_type.at("textureless").recall, 0.0);
  EXPECT_TRUE(std::isnan(e.by_type.at("textureless").precision));

  WriteChangeMetrics(e, out);
  const nlohmann::json j = nlohmann::json::parse(ReadFileToString(out / "metrics.json"));
  EXPECT_DOUBLE_EQ(j["overall"]["precision"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["overall"]["recall"].get<double>(), 2.0 / 3.0);
  for (const char* key : {"f1", "pixel_iou", "pixel_f1", "image_accuracy"}) {
    EXPECT_TRUE(j["overall"].contains(key)) << key;
  }
  EXPECT_TRUE(j["by_type"]["textureless"]["precision"].is_null());
  EXPECT_EQ(j["by_type"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["retrieval_accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["missing_masks"][0], "b.png");
  const std::string md = ReadFileToString(out / "metrics.md");
  EXPECT_NE(md.find("| overall |"), std::string::npos);
  EXPECT_NE(md.find("| textureless |"), std::string::npos);
  EXPECT_NE(md.find("b.png"), std::string::npos);

  // A mask of the wrong size names the file; so does a broken prediction JSON.
  ASSERT_TRUE(cv::imwrite((pred / "masks" / "b.png").string(), cv::Mat::zeros(10, 10, CV_8U)));
  try {
    EvaluateChangeDataset(data, pred);
    FAIL() << "no error for a mask of the wrong size";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("b.png"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("10x10"), std::string::npos) << err.what();
  }
  fs::remove(pred / "masks" / "b.png");
  WriteTextFileAtomically(pred / "b.json", "{\"reference\": ");
  try {
    EvaluateChangeDataset(data, pred);
    FAIL() << "no error for broken JSON";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("b.json"), std::string::npos) << err.what();
  }
  fs::remove(pred / "b.json");
  fs::remove(data / "ground_truth" / "b.json");
  EXPECT_THROW(EvaluateChangeDataset(data, pred), Error);  // missing ground truth
}

}  // namespace
}  // namespace vigil::eval
