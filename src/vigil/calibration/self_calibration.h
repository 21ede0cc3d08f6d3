// Self-calibration of the matcher's confidence threshold (robot change-detection paper, Sec. IV,
// Eq. 1-2 and Fig. 5).
//
// For image pairs related by a (roughly) linear shift, correct matches all move by about the same
// distance, so the displacement lengths of good matches have a small spread. For each threshold t
// of a sweep (default 0.0, 0.1, ..., 0.9) and each pair n, with the m_n matches whose confidence
// is > t:
//   cv_n(t) = sigma_n / mu_n   (population std / mean of |p1 - p0| over the matches, Eq. 1)
//   value_n(t) = cv_n(t) / m_n (dividing by the match count penalises thresholds that keep few
//                               matches: "maximum number of keypoints and minimum cv")
//   curve(t) = mean_n value_n(t)  (Eq. 2), with the min/max over pairs as a band (Fig. 5).
// The calibrated threshold is the knee of curve(t) found by Kneedle (kneedle.h). A pair with
// fewer than `min_matches` matches at t has no value there (cv undefined); a threshold where no
// pair has a value is left out of the knee search. When Kneedle finds no knee the result falls
// back to `fallback_threshold` and says so (from_knee = false, note).
//
// Any Matcher works: it is run ONCE per pair with its threshold at 0 and the sweep filters the
// matches by confidence (FilterMatchesByConfidence), which matcher.h documents as equivalent to
// matching at each threshold. Create the matcher with MatcherOptions::set_threshold(0).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <opencv2/core.hpp>

#include "vigil/kneedle/kneedle.h"
#include "vigil/dense/change_map.h"
#include "vigil/features/extractor.h"
#include "vigil/features/types.h"
#include "vigil/matching/matcher.h"
#include "vigil/matching/types.h"
#include "vigil/util/progress.h"

namespace vigil {

// 0.0, 0.1, ..., 0.9 (the paper's sweep).
std::vector<double> DefaultCalibrationThresholds();
// "start:stop:step" (inclusive stop, e.g. "0:0.9:0.1") or a comma list "0.1,0.3,0.5".
// Throws vigil::Error naming `spec` when malformed, not increasing or outside [0, 1).
std::vector<double> ParseThresholds(const std::string& spec);

struct SelfCalibrationOptions {
  std::vector<double> thresholds = DefaultCalibrationThresholds();  // strictly increasing, [0, 1)
  int min_matches = 3;  // a pair needs this many matches at t for cv_n(t) to count
  // Kneedle on curve(t). While wrong matches survive, their random displacements keep cv_n
  // high (and m_n shrinking can even make the curve rise); once t passes the confidence of the
  // wrong matches cv_n collapses and the curve drops and flattens: a convex decreasing elbow,
  // which is the "balance point" of the paper (many matches, minimum cv). An early rise makes
  // kneed's first elbow the curve's start, so online mode (the last elbow found) is the default.
  // Simulations with 15-50% wrong matches put it on the first threshold above the wrong
  // matches' confidences; the unit test checks exactly that.
  KneedleOptions kneedle = {1.0, KneeCurve::kConvex, KneeDirection::kDecreasing, true, false, 7};
  bool detect_shape = false;  // choose curve/direction from the data (kneed's find_shape) instead
  double fallback_threshold = 0.2;  // used when there is no knee (the CLI passes the matcher's own)
  // With a known shift (dx, dy) a match counts as correct when |p1 - p0 - shift| <= this (pixels);
  // used only for the per-pair diagnostics (correct_ratio), never for the knee.
  double shift_tolerance_px = 3.0;
  bool show_progress = true;  // progress bar on stderr
  void Check() const;
};

// Per pair and threshold.
struct PairThresholdStats {
  int num_matches = 0;
  double mean_distance = 0;   // mu_n, pixels
  double std_distance = 0;    // sigma_n (population), pixels
  double cv = 0;              // sigma_n / mu_n
  double cv_per_match = 0;    // cv_n / m_n, the value averaged into the curve
  bool valid = false;         // num_matches >= min_matches and mu_n > 0
  double correct_ratio = -1;  // fraction of matches consistent with the known shift; -1 = unknown
};

struct PairCalibration {
  std::string name;  // e.g. "img0.png img1.png"
  int num_keypoints0 = 0;
  int num_keypoints1 = 0;
  std::optional<cv::Point2d> shift;       // known shift image0 -> image1, if any
  std::vector<PairThresholdStats> stats;  // one per threshold
};

// The dense change stage's threshold (dense/change_map.h CalibrateOnReferences) calibrated on
// the reference images, with the settings it holds for: an inspection uses it only when its own
// dense options and false-alarm rate are these.
struct DenseThresholdRecord {
  double threshold = 0;
  double false_alarm_rate = 0;
  nlohmann::json options;  // OptionsToJson(dense::DenseChangeOptions)
  int num_images = 0;
};

struct CalibrationResult {
  double threshold = 0;                  // the calibrated threshold (knee, or fallback)
  bool from_knee = false;                // false: fallback_threshold was used
  std::string note;                      // why the fallback was used / anything a user should know
  std::vector<double> thresholds;        // the sweep
  std::vector<double> mean_curve;        // Eq. 2 per threshold; NaN where no pair has a value
  std::vector<double> min_curve;         // min over pairs; NaN where no pair has a value
  std::vector<double> max_curve;         // max over pairs
  std::vector<int> valid_pairs;          // pairs with a value per threshold
  std::optional<double> knee_threshold;  // where Kneedle put the knee
  std::optional<double> knee_value;      // mean_curve at the knee
  KneedleOptions kneedle;                // options Kneedle ran with (after shape detection)
  std::string extractor;                 // names, for the record
  std::string matcher;
  std::vector<PairCalibration> pairs;
  std::optional<DenseThresholdRecord> dense;  // absent in files written before it existed
};

// One pair's features and its known shift (if any).
struct FeaturePair {
  std::string name;
  Features features0;
  Features features1;
  std::optional<cv::Point2d> shift;
};

// Stats of one pair for every threshold, from matches computed at threshold 0.
PairCalibration ComputePairCalibration(const FeaturePair& pair, const Matches& matches_at_zero,
                                       const SelfCalibrationOptions& options);

// Curves, knee and threshold from per-pair stats (all computed with options.thresholds).
CalibrationResult SummarizeCalibration(std::vector<PairCalibration> pairs,
                                       const SelfCalibrationOptions& options);

// The sweep over pairs of features. `matcher` must have threshold 0 (see above).
// `cancel` (optional) is checked between pairs; throws vigil::Cancelled.
CalibrationResult CalibrateThreshold(const std::vector<FeaturePair>& pairs, Matcher& matcher,
                                     const SelfCalibrationOptions& options,
                                     const CancelToken* cancel = nullptr);

// Image pairs: two files, or one file and a synthetic shift.
struct ImagePairSpec {
  std::filesystem::path image0;
  std::filesystem::path image1;      // empty: image1 = image0 shifted by `shift`
  std::optional<cv::Point2d> shift;  // known shift image0 -> image1 in pixels, if any
};

// PAIRS.csv: one pair per line "image0,image1[,dx,dy]", relative paths resolved against the
// CSV's folder; blank lines and lines starting with '#' skipped; an optional header line
// (first field "image0", "query" or "reference") is skipped. Throws vigil::Error naming file and
// line.
std::vector<ImagePairSpec> ReadPairsCsv(const std::filesystem::path& csv);

// One synthetic pair per image of `dir` (io::ListImages), each shifted by `shift`.
std::vector<ImagePairSpec> MakeShiftedPairs(const std::filesystem::path& dir, cv::Point2d shift);

// A pure translation of `image` by `shift` (content at p moves to p + shift): both images are
// cropped to the region valid in both, so no artificial border enters the pair. Returns
// {crop of image, crop of shifted image}; throws when |shift| leaves less than 32 x 32 pixels.
std::pair<cv::Mat, cv::Mat> MakeShiftedPair(const cv::Mat& image, cv::Point2d shift);

// The dense change stage's threshold from reference images (at most 20, spread over the list;
// dense::CalibrateOnReferences), for calibration.json beside the matcher threshold. Throws
// naming an image that cannot be read.
DenseThresholdRecord CalibrateDenseThreshold(const std::vector<std::filesystem::path>& images,
                                             const dense::DenseChangeOptions& options,
                                             double false_alarm_rate);

// Extracts features of every pair (progress + cancel) and runs CalibrateThreshold.
CalibrationResult CalibrateThresholdFromImages(const std::vector<ImagePairSpec>& pairs,
                                               FeatureExtractor& extractor, Matcher& matcher,
                                               const SelfCalibrationOptions& options,
                                               const CancelToken* cancel = nullptr);

// calibration.json: written atomically; Read throws vigil::Error naming the file and the
// missing/invalid field (the inspect pipeline reads it through --calibration).
void WriteCalibrationJson(const std::filesystem::path& path, const CalibrationResult& result);
CalibrationResult ReadCalibrationJson(const std::filesystem::path& path);

}  // namespace vigil
