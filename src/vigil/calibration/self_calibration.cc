#include "vigil/calibration/self_calibration.h"
#include "vigil/util/options_fields.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/json_reader.h"

namespace vigil {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kJsonVersion = 1;

std::string Trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> Split(const std::string& s, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream stream(s);
  while (std::getline(stream, field, separator)) fields.push_back(Trim(field));
  if (!s.empty() && s.back() == separator) fields.push_back("");
  return fields;
}

// Parses a whole string as a finite double; nullopt otherwise.
std::optional<double> ParseDouble(const std::string& text) {
  if (text.empty()) return std::nullopt;
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void CheckThresholds(const std::vector<double>& thresholds, const std::string& what) {
  for (size_t i = 0; i < thresholds.size(); ++i) {
    VIGIL_CHECK(std::isfinite(thresholds[i]) && thresholds[i] >= 0 && thresholds[i] < 1,
                "{}: threshold {} is outside [0, 1)", what, thresholds[i]);
    VIGIL_CHECK(i == 0 || thresholds[i] > thresholds[i - 1],
                "{}: thresholds must be strictly increasing ({} follows {})", what, thresholds[i],
                thresholds[i - 1]);
  }
}

double RoundThreshold(double value) { return std::round(value * 1e9) / 1e9; }

}  // namespace

std::vector<double> DefaultCalibrationThresholds() {
  std::vector<double> thresholds;
  for (int i = 0; i <= 9; ++i) thresholds.push_back(i / 10.0);
  return thresholds;
}

std::vector<double> ParseThresholds(const std::string& spec) {
  std::vector<double> values;
  const std::string what = fmt::format("thresholds '{}'", spec);
  if (spec.find(':') != std::string::npos) {
    const std::vector<std::string> parts = Split(spec, ':');
    VIGIL_CHECK(parts.size() == 3, "{}: expected start:stop:step", what);
    const auto start = ParseDouble(parts[0]), stop = ParseDouble(parts[1]),
               step = ParseDouble(parts[2]);
    VIGIL_CHECK(start && stop && step, "{}: start, stop and step must be numbers", what);
    VIGIL_CHECK(*step > 0, "{}: step must be > 0", what);
    VIGIL_CHECK(*stop >= *start, "{}: stop must be >= start", what);
    const int count = static_cast<int>(std::floor((*stop - *start) / *step + 1e-9)) + 1;
    VIGIL_CHECK(count <= 10000, "{}: more than 10000 thresholds", what);
    for (int i = 0; i < count; ++i) values.push_back(RoundThreshold(*start + i * *step));
  } else {
    for (const std::string& part : Split(spec, ',')) {
      const auto value = ParseDouble(part);
      VIGIL_CHECK(value.has_value(), "{}: '{}' is not a number", what, part);
      values.push_back(*value);
    }
  }
  VIGIL_CHECK(!values.empty(), "{}: no threshold given", what);
  CheckThresholds(values, what);
  return values;
}

void SelfCalibrationOptions::Check() const {
  VIGIL_CHECK_OPTION(thresholds.size() >= 3, "thresholds", "needs at least 3 values for a knee");
  CheckThresholds(thresholds, "option thresholds");
  VIGIL_CHECK_OPTION(min_matches >= 2, "min_matches", "must be >= 2 (a spread needs 2 matches)");
  kneedle.Check();
  VIGIL_CHECK_OPTION(
      std::isfinite(fallback_threshold) && fallback_threshold >= 0 && fallback_threshold < 1,
      "fallback_threshold", "must be in [0, 1)");
  VIGIL_CHECK_OPTION(std::isfinite(shift_tolerance_px) && shift_tolerance_px > 0,
                     "shift_tolerance_px", "must be > 0");
}

PairCalibration ComputePairCalibration(const FeaturePair& pair, const Matches& matches_at_zero,
                                       const SelfCalibrationOptions& options) {
  options.Check();
  const Features& f0 = pair.features0;
  const Features& f1 = pair.features1;
  VIGIL_CHECK(static_cast<int>(matches_at_zero.matches0.size()) == f0.size() &&
                  matches_at_zero.confidence0.size() == matches_at_zero.matches0.size(),
              "calibration pair '{}': matches cover {} keypoints but image 0 has {}", pair.name,
              matches_at_zero.matches0.size(), f0.size());
  PairCalibration out;
  out.name = pair.name;
  out.num_keypoints0 = f0.size();
  out.num_keypoints1 = f1.size();
  out.shift = pair.shift;
  for (double t : options.thresholds) {
    // The documented equivalence: filtering threshold-0 matches = matching at threshold t.
    const Matches kept = FilterMatchesByConfidence(matches_at_zero, static_cast<float>(t));
    std::vector<double> distances;
    int correct = 0;
    for (size_t i = 0; i < kept.matches0.size(); ++i) {
      const int j = kept.matches0[i];
      if (j < 0) continue;
      VIGIL_CHECK(j < f1.size(),
                  "calibration pair '{}': match {} -> {} but image 1 has {} keypoints", pair.name,
                  i, j, f1.size());
      const double dx = f1.keypoints(j, 0) - f0.keypoints(i, 0);
      const double dy = f1.keypoints(j, 1) - f0.keypoints(i, 1);
      distances.push_back(std::hypot(dx, dy));
      if (pair.shift &&
          std::hypot(dx - pair.shift->x, dy - pair.shift->y) <= options.shift_tolerance_px) {
        ++correct;
      }
    }
    PairThresholdStats stats;
    stats.num_matches = static_cast<int>(distances.size());
    if (pair.shift && !distances.empty()) {
      stats.correct_ratio = static_cast<double>(correct) / distances.size();
    }
    if (!distances.empty()) {
      double sum = 0;
      for (double d : distances) sum += d;
      stats.mean_distance = sum / distances.size();
      double sq = 0;
      for (double d : distances) sq += (d - stats.mean_distance) * (d - stats.mean_distance);
      stats.std_distance = std::sqrt(sq / distances.size());  // population std (numpy default)
    }
    stats.valid = stats.num_matches >= options.min_matches && stats.mean_distance > 0;
    if (stats.valid) {
      stats.cv = stats.std_distance / stats.mean_distance;
      stats.cv_per_match = stats.cv / stats.num_matches;
    }
    out.stats.push_back(stats);
  }
  return out;
}

CalibrationResult SummarizeCalibration(std::vector<PairCalibration> pairs,
                                       const SelfCalibrationOptions& options) {
  options.Check();
  CalibrationResult result;
  result.thresholds = options.thresholds;
  result.kneedle = options.kneedle;
  const size_t n = options.thresholds.size();
  for (const PairCalibration& pair : pairs) {
    VIGIL_CHECK(pair.stats.size() == n, "calibration pair '{}' has {} thresholds, expected {}",
                pair.name, pair.stats.size(), n);
  }
  result.mean_curve.assign(n, kNaN);
  result.min_curve.assign(n, kNaN);
  result.max_curve.assign(n, kNaN);
  result.valid_pairs.assign(n, 0);
  std::vector<double> knee_x, knee_y;
  for (size_t t = 0; t < n; ++t) {
    double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
    int count = 0;
    for (const PairCalibration& pair : pairs) {
      const PairThresholdStats& s = pair.stats[t];
      if (!s.valid) continue;
      sum += s.cv_per_match;
      lo = std::min(lo, s.cv_per_match);
      hi = std::max(hi, s.cv_per_match);
      ++count;
    }
    result.valid_pairs[t] = count;
    if (count == 0) continue;
    result.mean_curve[t] = sum / count;
    result.min_curve[t] = lo;
    result.max_curve[t] = hi;
    knee_x.push_back(options.thresholds[t]);
    knee_y.push_back(result.mean_curve[t]);
  }
  result.pairs = std::move(pairs);

  std::string why;
  if (result.pairs.empty()) {
    why = "no image pairs";
  } else if (knee_x.size() < 3) {
    why = fmt::format("only {} threshold(s) have a value (pairs need >= {} matches)", knee_x.size(),
                      options.min_matches);
  } else {
    if (options.detect_shape) {
      DetectKneeShape(knee_x, knee_y, &result.kneedle.curve, &result.kneedle.direction);
    }
    const KneedleResult knee = FindKnee(knee_x, knee_y, result.kneedle);
    if (knee.knee) {
      result.knee_threshold = knee.knee->x;
      result.knee_value = knee.knee->y;
    } else {
      why = "Kneedle found no knee: " + knee.no_knee_reason;
    }
  }
  // Matchers whose confidences all sit high (mutual NN on cosine similarity: > 0.9 for SIFT)
  // keep the same matches over most of the default 0..0.9 sweep; say so, since a finer sweep
  // over the upper range is then what resolves the knee.
  size_t same = 0;
  while (!result.pairs.empty() && same + 1 < n &&
         std::all_of(result.pairs.begin(), result.pairs.end(), [&](const PairCalibration& p) {
           return p.stats[same + 1].num_matches == p.stats[0].num_matches;
         })) {
    ++same;
  }
  std::string coarse;
  if (n >= 4 && same + 1 >= (n + 1) / 2) {
    coarse = fmt::format(
        "thresholds {} to {} keep exactly the same matches in every pair (the matcher's "
        "confidences lie above them); a finer sweep over the upper range, e.g. {:.2g}:0.99:0.01, "
        "resolves the knee better",
        options.thresholds[0], options.thresholds[same], options.thresholds[same]);
  }
  if (result.knee_threshold) {
    result.threshold = *result.knee_threshold;
    result.from_knee = true;
    result.note = coarse;
  } else {
    result.threshold = options.fallback_threshold;
    result.from_knee = false;
    result.note =
        fmt::format("{}; using the fallback threshold {}", why, options.fallback_threshold);
    if (!coarse.empty()) result.note += "; " + coarse;
  }
  return result;
}

CalibrationResult CalibrateThreshold(const std::vector<FeaturePair>& pairs, Matcher& matcher,
                                     const SelfCalibrationOptions& options,
                                     const CancelToken* cancel) {
  options.Check();
  std::vector<PairCalibration> stats;
  ProgressBar progress("calibrate", pairs.size(), options.show_progress);
  for (const FeaturePair& pair : pairs) {
    if (cancel) cancel->ThrowIfCancelled();
    const Matches matches = matcher.Match(pair.features0, pair.features1);
    stats.push_back(ComputePairCalibration(pair, matches, options));
    progress.Advance();
  }
  progress.Finish();
  CalibrationResult result = SummarizeCalibration(std::move(stats), options);
  result.matcher = matcher.name();
  if (!pairs.empty()) result.extractor = pairs.front().features0.extractor;
  return result;
}

std::vector<ImagePairSpec> ReadPairsCsv(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  VIGIL_CHECK(in.good(), "{}: cannot open pairs file", csv.string());
  const std::filesystem::path base = csv.parent_path();
  const auto resolve = [&](const std::string& name) {
    const std::filesystem::path p(name);
    return p.is_absolute() ? p : base / p;
  };
  std::vector<ImagePairSpec> pairs;
  std::string line;
  int line_number = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_number;
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    const std::vector<std::string> fields = Split(trimmed, ',');
    if (first && !fields.empty() &&
        (fields[0] == "image0" || fields[0] == "query" || fields[0] == "reference")) {
      first = false;
      continue;
    }
    first = false;
    VIGIL_CHECK(fields.size() == 2 || fields.size() == 4,
                "{}:{}: expected 'image0,image1' or 'image0,image1,dx,dy', got {} field(s)",
                csv.string(), line_number, fields.size());
    VIGIL_CHECK(!fields[0].empty() && !fields[1].empty(), "{}:{}: empty image name", csv.string(),
                line_number);
    ImagePairSpec pair;
    pair.image0 = resolve(fields[0]);
    pair.image1 = resolve(fields[1]);
    if (fields.size() == 4) {
      const auto dx = ParseDouble(fields[2]), dy = ParseDouble(fields[3]);
      VIGIL_CHECK(dx && dy, "{}:{}: dx, dy must be numbers, got '{}', '{}'", csv.string(),
                  line_number, fields[2], fields[3]);
      pair.shift = cv::Point2d(*dx, *dy);
    }
    pairs.push_back(pair);
  }
  VIGIL_CHECK(!pairs.empty(), "{}: no image pairs in the file", csv.string());
  return pairs;
}

std::vector<ImagePairSpec> MakeShiftedPairs(const std::filesystem::path& dir, cv::Point2d shift) {
  const std::vector<std::filesystem::path> images = io::ListImages(dir);
  VIGIL_CHECK(!images.empty(), "{}: no images to make shifted pairs from", dir.string());
  std::vector<ImagePairSpec> pairs;
  for (const auto& image : images) pairs.push_back({image, {}, shift});
  return pairs;
}

std::pair<cv::Mat, cv::Mat> MakeShiftedPair(const cv::Mat& image, cv::Point2d shift) {
  VIGIL_CHECK(!image.empty(), "cannot shift an empty image");
  VIGIL_CHECK(std::isfinite(shift.x) && std::isfinite(shift.y), "shift must be finite");
  const cv::Mat transform = (cv::Mat_<double>(2, 3) << 1, 0, shift.x, 0, 1, shift.y);
  cv::Mat shifted;
  cv::warpAffine(image, shifted, transform, image.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  // Pixel x of the shifted image samples the source at x - shift.x: valid when that lies in
  // [0, width - 1]; the crop also has to lie inside the original image.
  const auto range = [](double s, int size) {
    const int lo = std::max(0, static_cast<int>(std::ceil(s)));
    const int hi = std::min(size - 1, static_cast<int>(std::floor(size - 1 + s)));
    return std::make_pair(lo, hi);
  };
  const auto [x0, x1] = range(shift.x, image.cols);
  const auto [y0, y1] = range(shift.y, image.rows);
  VIGIL_CHECK(x1 - x0 + 1 >= 32 && y1 - y0 + 1 >= 32,
              "shift ({}, {}) leaves less than 32 x 32 pixels of a {} x {} image", shift.x, shift.y,
              image.cols, image.rows);
  const cv::Rect roi(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  return {image(roi).clone(), shifted(roi).clone()};
}

CalibrationResult CalibrateThresholdFromImages(const std::vector<ImagePairSpec>& pairs,
                                               FeatureExtractor& extractor, Matcher& matcher,
                                               const SelfCalibrationOptions& options,
                                               const CancelToken* cancel) {
  options.Check();
  VIGIL_CHECK(!pairs.empty(), "calibration: no image pairs");
  std::vector<PairCalibration> stats;
  ProgressBar progress("calibrate", pairs.size(), options.show_progress);
  for (const ImagePairSpec& spec : pairs) {
    if (cancel) cancel->ThrowIfCancelled();
    FeaturePair pair;
    pair.shift = spec.shift;
    const cv::Mat image0 = io::ReadImage(spec.image0);
    if (spec.image1.empty()) {
      VIGIL_CHECK(spec.shift.has_value(), "{}: a single-image pair needs a shift",
                  spec.image0.string());
      const auto [crop0, crop1] = MakeShiftedPair(image0, *spec.shift);
      pair.name = fmt::format("{} shifted by ({}, {})", spec.image0.filename().string(),
                              spec.shift->x, spec.shift->y);
      pair.features0 = extractor.Extract(crop0);
      if (cancel) cancel->ThrowIfCancelled();
      pair.features1 = extractor.Extract(crop1);
    } else {
      const cv::Mat image1 = io::ReadImage(spec.image1);
      pair.name =
          fmt::format("{} {}", spec.image0.filename().string(), spec.image1.filename().string());
      pair.features0 = extractor.Extract(image0);
      if (cancel) cancel->ThrowIfCancelled();
      pair.features1 = extractor.Extract(image1);
    }
    if (cancel) cancel->ThrowIfCancelled();
    const Matches matches = matcher.Match(pair.features0, pair.features1);
    stats.push_back(ComputePairCalibration(pair, matches, options));
    progress.Advance();
  }
  progress.Finish();
  CalibrationResult result = SummarizeCalibration(std::move(stats), options);
  result.extractor = extractor.name();
  result.matcher = matcher.name();
  return result;
}

// ---------------------------------------------------------------------------------------------
// calibration.json

namespace {

using nlohmann::json;

json Number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

json Curve(const std::vector<double>& values) {
  json out = json::array();
  for (double v : values) out.push_back(Number(v));
  return out;
}

// One curve of calibration.json: an array of `size` numbers or nulls (NaN).
std::vector<double> Curve(const JsonReader& r, const json& object, const std::string& key, size_t size) {
  const json& v = r.Field(object, key);
  VIGIL_CHECK(v.is_array(), "{}: field '{}' must be an array", r.source(), key);
  VIGIL_CHECK(v.size() == size, "{}: field '{}' has {} values, expected {} (one per threshold)",
              r.source(), key, v.size(), size);
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(r.NullableDouble(v[i], fmt::format("{}[{}]", key, i)));
  return out;
}

}  // namespace

DenseThresholdRecord CalibrateDenseThreshold(const std::vector<std::filesystem::path>& images,
                                             const dense::DenseChangeOptions& options,
                                             double false_alarm_rate) {
  VIGIL_CHECK(!images.empty(), "dense calibration: no images");
  const size_t step = std::max<size_t>(1, images.size() / 20);
  std::vector<cv::Mat> references;
  for (size_t i = 0; i < images.size(); i += step) references.push_back(io::ReadImage(images[i]));
  const dense::DenseCalibration c = dense::CalibrateOnReferences(references, options, false_alarm_rate);
  DenseThresholdRecord record;
  record.threshold = c.threshold;
  record.false_alarm_rate = false_alarm_rate;
  record.options = OptionsToJson(options);
  record.num_images = static_cast<int>(references.size());
  return record;
}

void WriteCalibrationJson(const std::filesystem::path& path, const CalibrationResult& result) {
  json root;
  root["format"] = "vigil-calibration";
  root["version"] = kJsonVersion;
  root["threshold"] = result.threshold;
  root["from_knee"] = result.from_knee;
  root["note"] = result.note;
  root["extractor"] = result.extractor;
  root["dense"] = nullptr;
  if (result.dense) {
    root["dense"] = {{"threshold", result.dense->threshold},
                     {"false_alarm_rate", result.dense->false_alarm_rate},
                     {"options", result.dense->options},
                     {"num_images", result.dense->num_images}};
  }
  root["matcher"] = result.matcher;
  root["thresholds"] = result.thresholds;
  root["mean_curve"] = Curve(result.mean_curve);
  root["min_curve"] = Curve(result.min_curve);
  root["max_curve"] = Curve(result.max_curve);
  root["valid_pairs"] = result.valid_pairs;
  root["knee"] = result.knee_threshold ? json{{"threshold", *result.knee_threshold},
                                              {"value", Number(result.knee_value.value_or(kNaN))}}
                                       : json(nullptr);
  root["kneedle"] = {{"sensitivity", result.kneedle.sensitivity},
                     {"curve", ToString(result.kneedle.curve)},
                     {"direction", ToString(result.kneedle.direction)},
                     {"online", result.kneedle.online},
                     {"polynomial_fit", result.kneedle.polynomial_fit},
                     {"polynomial_degree", result.kneedle.polynomial_degree}};
  json pairs = json::array();
  for (const PairCalibration& pair : result.pairs) {
    json p;
    p["name"] = pair.name;
    p["num_keypoints0"] = pair.num_keypoints0;
    p["num_keypoints1"] = pair.num_keypoints1;
    p["shift"] = pair.shift ? json::array({pair.shift->x, pair.shift->y}) : json(nullptr);
    json stats = json::array();
    for (size_t t = 0; t < pair.stats.size(); ++t) {
      const PairThresholdStats& s = pair.stats[t];
      stats.push_back({{"threshold", t < result.thresholds.size() ? result.thresholds[t] : kNaN},
                       {"num_matches", s.num_matches},
                       {"mean_distance", Number(s.mean_distance)},
                       {"std_distance", Number(s.std_distance)},
                       {"cv", Number(s.cv)},
                       {"cv_per_match", Number(s.cv_per_match)},
                       {"valid", s.valid},
                       {"correct_ratio", Number(s.correct_ratio)}});
    }
    p["stats"] = std::move(stats);
    pairs.push_back(std::move(p));
  }
  root["pairs"] = std::move(pairs);
  WriteTextFileAtomically(path, root.dump(2) + "\n");
}

CalibrationResult ReadCalibrationJson(const std::filesystem::path& path) {
  const std::string text = ReadFileToString(path);
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    ThrowError(
        fmt::format("{}: not a valid calibration file (JSON error: {})", path.string(), e.what()));
  }
  const JsonReader r(path.string());
  VIGIL_CHECK(root.is_object(), "{}: not a calibration file (expected a JSON object)",
              path.string());
  const auto format = root.find("format");
  VIGIL_CHECK(format != root.end() && *format == "vigil-calibration",
              "{}: not a vigil calibration file (field 'format' must be \"vigil-calibration\")",
              path.string());
  const int version = r.Int(root, "version");
  VIGIL_CHECK(version == kJsonVersion, "{}: calibration file version {} is not supported (need {})",
              path.string(), version, kJsonVersion);

  CalibrationResult result;
  result.threshold = r.Double(root, "threshold");
  VIGIL_CHECK(result.threshold >= 0 && result.threshold < 1,
              "{}: field 'threshold' = {} is outside [0, 1)", path.string(), result.threshold);
  result.from_knee = r.Bool(root, "from_knee");
  result.note = r.String(root, "note");
  result.extractor = r.String(root, "extractor");
  result.matcher = r.String(root, "matcher");
  if (root.contains("dense") && !root["dense"].is_null()) {
    const json& d = root["dense"];
    VIGIL_CHECK(d.is_object(), "{}: field 'dense' must be an object or null", path.string());
    DenseThresholdRecord dense;
    dense.threshold = r.Double(d, "threshold", "dense");
    dense.false_alarm_rate = r.Double(d, "false_alarm_rate", "dense");
    dense.num_images = r.Int(d, "num_images", "dense");
    VIGIL_CHECK(std::isfinite(dense.threshold) && dense.threshold >= 0,
                "{}: field 'dense.threshold' = {} must be >= 0", path.string(), dense.threshold);
    VIGIL_CHECK(dense.false_alarm_rate > 0 && dense.false_alarm_rate < 1,
                "{}: field 'dense.false_alarm_rate' = {} must be in (0, 1)", path.string(),
                dense.false_alarm_rate);
    dense.options = r.Field(d, "options", "dense");
    VIGIL_CHECK(dense.options.is_object(), "{}: field 'dense.options' must be an object", path.string());
    result.dense = std::move(dense);
  }
  const json& thresholds = r.Field(root, "thresholds", "");
  VIGIL_CHECK(thresholds.is_array(), "{}: field 'thresholds' must be an array", path.string());
  for (size_t i = 0; i < thresholds.size(); ++i) {
    VIGIL_CHECK(thresholds[i].is_number(), "{}: field 'thresholds[{}]' must be a number",
                path.string(), i);
    result.thresholds.push_back(thresholds[i].get<double>());
  }
  const size_t n = result.thresholds.size();
  result.mean_curve = Curve(r, root, "mean_curve", n);
  result.min_curve = Curve(r, root, "min_curve", n);
  result.max_curve = Curve(r, root, "max_curve", n);
  const json& valid = r.Field(root, "valid_pairs", "");
  VIGIL_CHECK(valid.is_array() && valid.size() == n,
              "{}: field 'valid_pairs' must be an array of {} integers", path.string(), n);
  for (size_t i = 0; i < n; ++i) {
    VIGIL_CHECK(valid[i].is_number_integer() && valid[i].get<double>() >= 0 &&
                    valid[i].get<double>() <= std::numeric_limits<int>::max(),
                "{}: field 'valid_pairs[{}]' must be a non-negative integer", path.string(), i);
    result.valid_pairs.push_back(valid[i].get<int>());
  }
  const json& knee = r.Field(root, "knee", "");
  if (!knee.is_null()) {
    result.knee_threshold = r.Double(knee, "threshold", "knee");
    const double value = r.NullableDouble(r.Field(knee, "value", "knee"), "knee.value");
    if (std::isfinite(value)) result.knee_value = value;
  }
  const json& kneedle = r.Field(root, "kneedle", "");
  result.kneedle.sensitivity = r.Double(kneedle, "sensitivity", "kneedle");
  try {
    result.kneedle.curve = ParseKneeCurve(r.String(kneedle, "curve", "kneedle"));
    result.kneedle.direction = ParseKneeDirection(r.String(kneedle, "direction", "kneedle"));
  } catch (const Error& e) {
    ThrowError(fmt::format("{}: field 'kneedle': {}", path.string(), e.what()));
  }
  result.kneedle.online = r.Bool(kneedle, "online", "kneedle");
  result.kneedle.polynomial_fit = r.Bool(kneedle, "polynomial_fit", "kneedle");
  result.kneedle.polynomial_degree = r.Int(kneedle, "polynomial_degree", "kneedle");

  const json& pairs = r.Field(root, "pairs", "");
  VIGIL_CHECK(pairs.is_array(), "{}: field 'pairs' must be an array", path.string());
  for (size_t p = 0; p < pairs.size(); ++p) {
    const std::string where = fmt::format("pairs[{}]", p);
    const json& item = pairs[p];
    PairCalibration pair;
    pair.name = r.String(item, "name", where);
    pair.num_keypoints0 = r.Int(item, "num_keypoints0", where);
    pair.num_keypoints1 = r.Int(item, "num_keypoints1", where);
    const json& shift = r.Field(item, "shift", where);
    if (!shift.is_null()) {
      VIGIL_CHECK(
          shift.is_array() && shift.size() == 2 && shift[0].is_number() && shift[1].is_number(),
          "{}: field '{}.shift' must be [dx, dy] or null", path.string(), where);
      pair.shift = cv::Point2d(shift[0].get<double>(), shift[1].get<double>());
    }
    const json& stats = r.Field(item, "stats", where);
    VIGIL_CHECK(stats.is_array() && stats.size() == n,
                "{}: field '{}.stats' must hold {} entries (one per threshold)", path.string(),
                where, n);
    for (size_t t = 0; t < n; ++t) {
      const std::string at = fmt::format("{}.stats[{}]", where, t);
      const json& s = stats[t];
      PairThresholdStats st;
      st.num_matches = r.Int(s, "num_matches", at);
      st.mean_distance = r.NullableDouble(r.Field(s, "mean_distance", at), at + ".mean_distance");
      st.std_distance = r.NullableDouble(r.Field(s, "std_distance", at), at + ".std_distance");
      st.cv = r.NullableDouble(r.Field(s, "cv", at), at + ".cv");
      st.cv_per_match = r.NullableDouble(r.Field(s, "cv_per_match", at), at + ".cv_per_match");
      st.valid = r.Bool(s, "valid", at);
      st.correct_ratio = r.NullableDouble(r.Field(s, "correct_ratio", at), at + ".correct_ratio");
      pair.stats.push_back(st);
    }
    result.pairs.push_back(std::move(pair));
  }
  return result;
}
}  // namespace vigil
