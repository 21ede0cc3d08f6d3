#include "vigil/calibration/self_calibration.h"
#include "vigil/util/options_fields.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/report/calibration_plot.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

// A matcher that returns prepared matches, one Matches per call, in order.
class ScriptedMatcher : public Matcher {
 public:
  explicit ScriptedMatcher(std::vector<Matches> script) : script_(std::move(script)) {}
  Matches Match(const Features&, const Features&) override { return script_.at(next_++); }
  std::string name() const override { return "scripted"; }

 private:
  std::vector<Matches> script_;
  size_t next_ = 0;
};

Features MakeFeatures(const std::vector<cv::Point2d>& points) {
  Features f;
  f.keypoints.resize(static_cast<Eigen::Index>(points.size()), 2);
  for (size_t i = 0; i < points.size(); ++i) {
    f.keypoints(i, 0) = static_cast<float>(points[i].x);
    f.keypoints(i, 1) = static_cast<float>(points[i].y);
  }
  f.scores = Eigen::VectorXf::Ones(static_cast<Eigen::Index>(points.size()));
  f.extractor = "synthetic";
  return f;
}

Matches MakeMatches(int n0, int n1, const std::vector<std::tuple<int, int, float>>& pairs) {
  Matches m;
  m.matches0.assign(n0, -1);
  m.confidence0.assign(n0, 0.0f);
  for (const auto& [i, j, c] : pairs) {
    m.matches0[i] = j;
    m.confidence0[i] = c;
  }
  FillReverseMatches(n1, &m);
  return m;
}

// A shifted pair whose matches are known: `good` correct matches (displacement = shift + small
// noise) with confidence in [0.55, 0.95] and `bad` wrong matches (random partner) with confidence
// in [0, 0.5). The threshold that separates them is 0.5.
struct SyntheticPair {
  FeaturePair pair;
  Matches matches;
};

SyntheticPair MakeSyntheticPair(unsigned seed, int good, int bad, cv::Point2d shift) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> ux(0, 640), uy(0, 480);
  std::normal_distribution<double> noise(0, 0.7);
  std::uniform_real_distribution<float> good_conf(0.55f, 0.95f), bad_conf(0.0f, 0.4999f);
  const int n = good + bad;
  std::vector<cv::Point2d> p0(n), p1(n);
  for (int i = 0; i < n; ++i) {
    p0[i] = {ux(rng), uy(rng)};
    p1[i] = {ux(rng), uy(rng)};  // unrelated positions for the wrong partners
  }
  std::vector<std::tuple<int, int, float>> pairs;
  for (int i = 0; i < good; ++i) {
    p1[i] = p0[i] + shift + cv::Point2d(noise(rng), noise(rng));
    pairs.emplace_back(i, i, good_conf(rng));
  }
  for (int i = good; i < n; ++i) pairs.emplace_back(i, i, bad_conf(rng));
  SyntheticPair out;
  out.pair.name = fmt::format("synthetic {}", seed);
  out.pair.features0 = MakeFeatures(p0);
  out.pair.features1 = MakeFeatures(p1);
  out.pair.shift = shift;
  out.matches = MakeMatches(n, n, pairs);
  return out;
}

SelfCalibrationOptions QuietOptions() {
  SelfCalibrationOptions options;
  options.show_progress = false;
  return options;
}

TEST(SelfCalibration, CoefficientOfVariationPerPair) {
  // Three matches with displacement lengths 3, 4, 5 (Eq. 1): mu = 4,
  // sigma = sqrt(((3-4)^2 + 0 + (5-4)^2) / 3) = sqrt(2/3), cv = sigma / mu, value = cv / 3.
  FeaturePair pair;
  pair.name = "hand";
  pair.features0 = MakeFeatures({{0, 0}, {10, 10}, {20, 20}, {30, 30}});
  pair.features1 = MakeFeatures({{3, 0}, {10, 14}, {23, 24}});
  const Matches matches = MakeMatches(4, 3, {{0, 0, 0.9f}, {1, 1, 0.35f}, {2, 2, 0.6f}});
  SelfCalibrationOptions options = QuietOptions();
  options.thresholds = {0.0, 0.3, 0.5};
  options.min_matches = 2;
  const PairCalibration c = ComputePairCalibration(pair, matches, options);
  ASSERT_EQ(c.stats.size(), 3u);
  EXPECT_EQ(c.stats[0].num_matches, 3);
  EXPECT_DOUBLE_EQ(c.stats[0].mean_distance, 4.0);
  EXPECT_NEAR(c.stats[0].std_distance, std::sqrt(2.0 / 3.0), 1e-12);
  EXPECT_NEAR(c.stats[0].cv, std::sqrt(2.0 / 3.0) / 4.0, 1e-12);
  EXPECT_NEAR(c.stats[0].cv_per_match, std::sqrt(2.0 / 3.0) / 12.0, 1e-12);
  EXPECT_TRUE(c.stats[0].valid);
  // t = 0.3 keeps all three (0.35 > 0.3); t = 0.5 keeps distances 3 and 5: mu 4, sigma 1.
  EXPECT_EQ(c.stats[1].num_matches, 3);
  EXPECT_EQ(c.stats[2].num_matches, 2);
  EXPECT_NEAR(c.stats[2].cv, 0.25, 1e-12);
  EXPECT_NEAR(c.stats[2].cv_per_match, 0.125, 1e-12);
  // With min_matches 3 the last threshold has no value.
  options.min_matches = 3;
  EXPECT_FALSE(ComputePairCalibration(pair, matches, options).stats[2].valid);
  // Matches that do not fit the features are an error, not a crash.
  EXPECT_THROW(ComputePairCalibration(pair, MakeMatches(2, 3, {}), options), Error);
}

TEST(SelfCalibration, KneeLandsOnTheSeparatingThreshold) {
  // Correct matches have confidence >= 0.55, wrong ones < 0.5: 0.5 is the first threshold that
  // removes every wrong match and keeps every correct one.
  for (int bad : {40, 90, 150}) {
    std::vector<FeaturePair> pairs;
    std::vector<Matches> script;
    for (unsigned seed = 1; seed <= 3; ++seed) {
      SyntheticPair p = MakeSyntheticPair(seed * 17 + bad, 300, bad, {35.0 + seed, -4.0});
      pairs.push_back(p.pair);
      script.push_back(p.matches);
    }
    ScriptedMatcher matcher(script);
    const CalibrationResult r = CalibrateThreshold(pairs, matcher, QuietOptions());
    EXPECT_TRUE(r.from_knee) << "bad " << bad << ": " << r.note;
    EXPECT_NEAR(r.threshold, 0.5, 1e-9) << "bad " << bad;
    ASSERT_TRUE(r.knee_threshold.has_value());
    EXPECT_EQ(r.matcher, "scripted");
    EXPECT_EQ(r.extractor, "synthetic");
    EXPECT_TRUE(r.note.empty()) << r.note;
    ASSERT_EQ(r.thresholds.size(), 10u);
    ASSERT_EQ(r.pairs.size(), 3u);
    for (size_t t = 0; t < 10; ++t) {
      EXPECT_EQ(r.valid_pairs[t], 3);
      EXPECT_LE(r.min_curve[t], r.mean_curve[t]);
      EXPECT_GE(r.max_curve[t], r.mean_curve[t]);
    }
    // From 0.5 on only correct matches remain: every kept match agrees with the known shift.
    for (const PairCalibration& pair : r.pairs) {
      EXPECT_DOUBLE_EQ(pair.stats[5].correct_ratio, 1.0);
      EXPECT_LT(pair.stats[4].correct_ratio, 1.0);
    }
  }
}

TEST(SelfCalibration, NoKneeFallsBackAndSaysSo) {
  // Every match correct and equally confident: the curve is flat, Kneedle has no knee.
  std::vector<cv::Point2d> p0, p1;
  std::vector<std::tuple<int, int, float>> pairs;
  for (int i = 0; i < 50; ++i) {
    p0.push_back({10.0 + i * 7, 20.0 + (i % 5) * 9});
    p1.push_back(p0.back() + cv::Point2d(12 + (i % 3), 0));
    pairs.emplace_back(i, i, 0.97f);
  }
  FeaturePair pair{"flat", MakeFeatures(p0), MakeFeatures(p1), std::nullopt};
  ScriptedMatcher matcher({MakeMatches(50, 50, pairs)});
  SelfCalibrationOptions options = QuietOptions();
  options.fallback_threshold = 0.2;
  const CalibrationResult r = CalibrateThreshold({pair}, matcher, options);
  EXPECT_FALSE(r.from_knee);
  EXPECT_DOUBLE_EQ(r.threshold, 0.2);
  EXPECT_NE(r.note.find("fallback"), std::string::npos) << r.note;
  EXPECT_FALSE(r.knee_threshold.has_value());
  // All confidences above the whole sweep: the note suggests a finer range.
  EXPECT_NE(r.note.find("finer sweep"), std::string::npos) << r.note;

  // No pair with enough matches anywhere: NaN curve, fallback, no crash.
  ScriptedMatcher empty({MakeMatches(50, 50, {{0, 0, 0.9f}})});
  const CalibrationResult none = CalibrateThreshold({pair}, empty, options);
  EXPECT_FALSE(none.from_knee);
  EXPECT_TRUE(std::isnan(none.mean_curve[0]));
  EXPECT_EQ(none.valid_pairs[0], 0);
  // And no pairs at all.
  ScriptedMatcher unused({});
  EXPECT_FALSE(CalibrateThreshold({}, unused, options).from_knee);
}

TEST(SelfCalibration, CancelStopsTheSweep) {
  SyntheticPair p = MakeSyntheticPair(5, 50, 10, {10, 0});
  ScriptedMatcher matcher({p.matches});
  CancelToken cancel;
  cancel.Cancel();
  EXPECT_THROW(CalibrateThreshold({p.pair}, matcher, QuietOptions(), &cancel), Cancelled);
}

TEST(SelfCalibration, ParseThresholds) {
  const std::vector<double> sweep = ParseThresholds("0:0.9:0.1");
  ASSERT_EQ(sweep.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_DOUBLE_EQ(sweep[i], i / 10.0);
  EXPECT_EQ(sweep, DefaultCalibrationThresholds());
  EXPECT_EQ(ParseThresholds("0.1, 0.3,0.5"), (std::vector<double>{0.1, 0.3, 0.5}));
  EXPECT_EQ(ParseThresholds("0.2:0.3:0.05").size(), 3u);
  EXPECT_THROW(ParseThresholds("0:1:0.1"), Error);  // 1.0 is not a valid threshold
  EXPECT_THROW(ParseThresholds("0:0.9"), Error);
  EXPECT_THROW(ParseThresholds("0:0.9:0"), Error);
  EXPECT_THROW(ParseThresholds("0.5,0.3"), Error);
  EXPECT_THROW(ParseThresholds("a,b"), Error);
  EXPECT_THROW(ParseThresholds(""), Error);
  SelfCalibrationOptions options;
  options.thresholds = {0.1, 0.2};
  EXPECT_THROW(options.Check(), Error);
}

CalibrationResult SyntheticResult() {
  std::vector<FeaturePair> pairs;
  std::vector<Matches> script;
  for (unsigned seed = 1; seed <= 2; ++seed) {
    SyntheticPair p = MakeSyntheticPair(seed, 200, 80, {20, 5});
    pairs.push_back(p.pair);
    script.push_back(p.matches);
  }
  // Second pair without a known shift; the last threshold has no value in either pair.
  pairs[1].shift.reset();
  ScriptedMatcher matcher(script);
  SelfCalibrationOptions options = QuietOptions();
  options.thresholds = {0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.97};
  return CalibrateThreshold(pairs, matcher, options);
}

// The dense threshold travels in calibration.json with the settings it holds for; a file
// without it (written before it existed) still loads; a bad rate is named.
TEST(SelfCalibration, DenseThresholdRoundTripsWithItsSettings) {
  CalibrationResult r = SyntheticResult();
  const auto dir = testing::MakeTempDir("calibration_dense");
  WriteCalibrationJson(dir / "without.json", r);
  EXPECT_FALSE(ReadCalibrationJson(dir / "without.json").dense.has_value());
  r.dense = DenseThresholdRecord{42.5, 1e-3, OptionsToJson(dense::DenseChangeOptions{}), 7};
  WriteCalibrationJson(dir / "with.json", r);
  const CalibrationResult back = ReadCalibrationJson(dir / "with.json");
  ASSERT_TRUE(back.dense.has_value());
  EXPECT_DOUBLE_EQ(back.dense->threshold, 42.5);
  EXPECT_DOUBLE_EQ(back.dense->false_alarm_rate, 1e-3);
  EXPECT_EQ(back.dense->options, OptionsToJson(dense::DenseChangeOptions{}));
  EXPECT_EQ(back.dense->num_images, 7);
  nlohmann::json bad = nlohmann::json::parse(ReadFileToString(dir / "with.json"));
  bad["dense"]["false_alarm_rate"] = 2;
  WriteTextFileAtomically(dir / "bad.json", bad.dump());
  try {
    ReadCalibrationJson(dir / "bad.json");
    FAIL() << "a false-alarm rate of 2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dense.false_alarm_rate"), std::string::npos) << e.what();
  }
}

TEST(SelfCalibration, JsonRoundTrip) {
  const CalibrationResult r = SyntheticResult();
  ASSERT_TRUE(std::isnan(r.mean_curve.back()));
  const auto dir = testing::MakeTempDir("calibration_json");
  const auto path = dir / "calibration.json";
  WriteCalibrationJson(path, r);
  const CalibrationResult back = ReadCalibrationJson(path);
  EXPECT_DOUBLE_EQ(back.threshold, r.threshold);
  EXPECT_EQ(back.from_knee, r.from_knee);
  EXPECT_EQ(back.note, r.note);
  EXPECT_EQ(back.extractor, r.extractor);
  EXPECT_EQ(back.matcher, r.matcher);
  EXPECT_EQ(back.thresholds, r.thresholds);
  ASSERT_EQ(back.mean_curve.size(), r.mean_curve.size());
  for (size_t i = 0; i < r.mean_curve.size(); ++i) {
    if (std::isnan(r.mean_curve[i])) {
      EXPECT_TRUE(std::isnan(back.mean_curve[i]));
    } else {
      EXPECT_DOUBLE_EQ(back.mean_curve[i], r.mean_curve[i]);
      EXPECT_DOUBLE_EQ(back.min_curve[i], r.min_curve[i]);
      EXPECT_DOUBLE_EQ(back.max_curve[i], r.max_curve[i]);
    }
  }
  EXPECT_EQ(back.valid_pairs, r.valid_pairs);
  EXPECT_EQ(back.knee_threshold, r.knee_threshold);
  EXPECT_EQ(back.knee_value, r.knee_value);
  EXPECT_EQ(back.kneedle.curve, r.kneedle.curve);
  EXPECT_EQ(back.kneedle.direction, r.kneedle.direction);
  EXPECT_EQ(back.kneedle.online, r.kneedle.online);
  ASSERT_EQ(back.pairs.size(), 2u);
  EXPECT_EQ(back.pairs[0].name, r.pairs[0].name);
  ASSERT_TRUE(back.pairs[0].shift.has_value());
  EXPECT_DOUBLE_EQ(back.pairs[0].shift->x, 20);
  EXPECT_FALSE(back.pairs[1].shift.has_value());
  for (size_t t = 0; t < r.thresholds.size(); ++t) {
    EXPECT_EQ(back.pairs[0].stats[t].num_matches, r.pairs[0].stats[t].num_matches);
    EXPECT_EQ(back.pairs[0].stats[t].valid, r.pairs[0].stats[t].valid);
    EXPECT_DOUBLE_EQ(back.pairs[0].stats[t].cv_per_match, r.pairs[0].stats[t].cv_per_match);
    EXPECT_DOUBLE_EQ(back.pairs[1].stats[t].correct_ratio, -1.0);
  }
}

TEST(SelfCalibration, CorruptJsonGivesClearErrors) {
  const CalibrationResult r = SyntheticResult();
  const auto dir = testing::MakeTempDir("calibration_corrupt");
  const auto good = dir / "good.json";
  WriteCalibrationJson(good, r);
  const nlohmann::json root = nlohmann::json::parse(ReadFileToString(good));

  const auto expect_error = [&](const std::string& name, const std::string& text,
                                const std::string& needle) {
    const auto path = dir / name;
    WriteTextFileAtomically(path, text);
    try {
      ReadCalibrationJson(path);
      ADD_FAILURE() << name << ": expected vigil::Error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path.string()), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << name << ": " << what;
    }
  };
  expect_error("truncated.json", root.dump().substr(0, 40), "JSON");
  expect_error("array.json", "[1, 2]", "calibration");
  // Found by fuzz_calibration_json: a number too large for a double is nlohmann's out_of_range,
  // not a parse_error, and escaped as an uncaught exception.
  expect_error("overflow.json", "6E555555555555", "JSON");
  nlohmann::json missing = root;
  missing.erase("threshold");
  expect_error("missing.json", missing.dump(), "'threshold'");
  nlohmann::json wrong_type = root;
  wrong_type["threshold"] = "high";
  expect_error("type.json", wrong_type.dump(), "'threshold'");
  nlohmann::json out_of_range = root;
  out_of_range["threshold"] = 1.5;
  expect_error("range.json", out_of_range.dump(), "'threshold'");
  nlohmann::json short_curve = root;
  short_curve["mean_curve"].erase(0);
  expect_error("short.json", short_curve.dump(), "'mean_curve'");
  nlohmann::json bad_pair = root;
  bad_pair["pairs"][1]["stats"][2].erase("num_matches");
  expect_error("pair.json", bad_pair.dump(), "pairs[1].stats[2].num_matches");
  nlohmann::json bad_curve = root;
  bad_curve["kneedle"]["curve"] = "wiggly";
  expect_error("kneedle.json", bad_curve.dump(), "kneedle");
  nlohmann::json other = root;
  other["format"] = "something-else";
  expect_error("format.json", other.dump(), "format");
  EXPECT_THROW(ReadCalibrationJson(dir / "does_not_exist.json"), Error);
}

TEST(SelfCalibration, PairsCsv) {
  const auto dir = testing::MakeTempDir("calibration_pairs");
  WriteTextFileAtomically(dir / "pairs.csv",
                          "image0,image1,dx,dy\n"
                          "# a comment\n"
                          "\n"
                          "a.png, b.png\n"
                          "c.png,/abs/d.png,12.5,-3\n");
  const std::vector<ImagePairSpec> pairs = ReadPairsCsv(dir / "pairs.csv");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].image0, dir / "a.png");
  EXPECT_EQ(pairs[0].image1, dir / "b.png");
  EXPECT_FALSE(pairs[0].shift.has_value());
  EXPECT_EQ(pairs[1].image1, std::filesystem::path("/abs/d.png"));
  ASSERT_TRUE(pairs[1].shift.has_value());
  EXPECT_DOUBLE_EQ(pairs[1].shift->x, 12.5);
  EXPECT_DOUBLE_EQ(pairs[1].shift->y, -3);

  WriteTextFileAtomically(dir / "bad.csv", "a.png,b.png\na.png,b.png,1\n");
  try {
    ReadPairsCsv(dir / "bad.csv");
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
  WriteTextFileAtomically(dir / "nan.csv", "a.png,b.png,x,1\n");
  EXPECT_THROW(ReadPairsCsv(dir / "nan.csv"), Error);
  WriteTextFileAtomically(dir / "empty.csv", "# nothing\n");
  EXPECT_THROW(ReadPairsCsv(dir / "empty.csv"), Error);
  EXPECT_THROW(ReadPairsCsv(dir / "missing.csv"), Error);
}

TEST(SelfCalibration, ShiftedPairIsAPureTranslation) {
  cv::Mat image(120, 160, CV_8UC3);
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
  for (const cv::Point2d shift : {cv::Point2d(7, -4), cv::Point2d(-10, 3), cv::Point2d(0, 0)}) {
    const auto [a, b] = MakeShiftedPair(image, shift);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_EQ(a.cols, 160 - std::abs(static_cast<int>(shift.x)));
    EXPECT_EQ(a.rows, 120 - std::abs(static_cast<int>(shift.y)));
    // Content at p in `a` is at p + shift in `b`.
    const int sx = static_cast<int>(shift.x), sy = static_cast<int>(shift.y);
    int checked = 0;
    for (int y = 0; y < a.rows; y += 7) {
      for (int x = 0; x < a.cols; x += 5) {
        if (x + sx < 0 || x + sx >= b.cols || y + sy < 0 || y + sy >= b.rows) continue;
        ASSERT_EQ(a.at<cv::Vec3b>(y, x), b.at<cv::Vec3b>(y + sy, x + sx)) << x << "," << y;
        ++checked;
      }
    }
    EXPECT_GT(checked, 100);
  }
  EXPECT_THROW(MakeShiftedPair(image, {150, 0}), Error);
  EXPECT_THROW(MakeShiftedPair(cv::Mat(), {1, 0}), Error);
}

TEST(SelfCalibration, PlotMarksTheKnee) {
  const CalibrationResult r = SyntheticResult();
  ASSERT_TRUE(r.from_knee);
  const cv::Mat plot = RenderCalibrationPlot(r);
  ASSERT_EQ(plot.type(), CV_8UC3);
  EXPECT_EQ(plot.cols, 900);
  EXPECT_EQ(plot.rows, 560);
  // The knee line is red (BGR ~ (40, 40, 220)); count strongly red pixels.
  int red = 0;
  for (int y = 0; y < plot.rows; ++y) {
    for (int x = 0; x < plot.cols; ++x) {
      const cv::Vec3b p = plot.at<cv::Vec3b>(y, x);
      red += p[2] > 180 && p[0] < 90 && p[1] < 90;
    }
  }
  EXPECT_GT(red, 200);
  const auto dir = testing::MakeTempDir("calibration_plot");
  WriteCalibrationPlot(dir / "calibration.png", r);
  const cv::Mat back = io::ReadImage(dir / "calibration.png");
  EXPECT_EQ(back.size(), plot.size());
  // A result without data still renders.
  CalibrationResult empty;
  empty.threshold = 0.2;
  EXPECT_FALSE(RenderCalibrationPlot(empty).empty());
}

TEST(SelfCalibration, RealImagesWithSiftAndSyntheticShift) {
  const auto image = testing::DataDir() / "changes-freiburg" / "reference";
  VIGIL_REQUIRE_FILE(image);
  std::vector<std::filesystem::path> files = io::ListImages(image);
  ASSERT_FALSE(files.empty());
  std::vector<ImagePairSpec> pairs;
  for (size_t i = 0; i < files.size() && i < 2; ++i)
    pairs.push_back({files[i], {}, cv::Point2d(24, 0)});
  FeatureExtractorOptions extractor_options;
  extractor_options.type = "sift";
  extractor_options.sift.max_keypoints = 1000;
  auto extractor = FeatureExtractor::Create(extractor_options);
  MatcherOptions matcher_options;
  matcher_options.type = "nn";
  matcher_options.set_threshold(0.0f);
  auto matcher = Matcher::Create(matcher_options);
  const CalibrationResult r =
      CalibrateThresholdFromImages(pairs, *extractor, *matcher, QuietOptions());
  ASSERT_EQ(r.pairs.size(), pairs.size());
  EXPECT_EQ(r.extractor, extractor->name());
  EXPECT_GE(r.threshold, 0.0);
  EXPECT_LT(r.threshold, 1.0);
  // At the calibrated threshold nearly every kept match agrees with the synthetic shift.
  const auto t = std::find(r.thresholds.begin(), r.thresholds.end(), r.threshold);
  if (t != r.thresholds.end()) {
    const size_t index = static_cast<size_t>(t - r.thresholds.begin());
    for (const PairCalibration& pair : r.pairs) {
      EXPECT_GT(pair.stats[index].num_matches, 50) << pair.name;
      EXPECT_GT(pair.stats[index].correct_ratio, 0.9) << pair.name;
    }
  }
}

}  // namespace
}  // namespace vigil
