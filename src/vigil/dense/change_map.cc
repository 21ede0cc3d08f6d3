#include "vigil/dense/change_map.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil::dense {

void DenseChangeOptions::Check() const {
  VIGIL_CHECK_OPTION(window_radius >= 0 && window_radius <= 32, "dense.window_radius",
                     fmt::format("must be in [0, 32] pixels, got {}", window_radius));
  VIGIL_CHECK_OPTION(normalise_radius >= 0, "dense.normalise_radius",
                     fmt::format("must be >= 0 pixels, got {}", normalise_radius));
  VIGIL_CHECK_OPTION(max_gain >= 1, "dense.max_gain",
                     fmt::format("must be >= 1, got {}", max_gain));
  VIGIL_CHECK_OPTION(normalise_min_std > 0, "dense.normalise_min_std",
                     fmt::format("must be > 0 grey levels, got {}", normalise_min_std));
  VIGIL_CHECK_OPTION(blur_sigma >= 0 && blur_sigma <= 20, "dense.blur_sigma",
                     fmt::format("must be in [0, 20] pixels, got {}", blur_sigma));
  VIGIL_CHECK_OPTION(min_region_px >= 1, "dense.min_region_px",
                     fmt::format("must be >= 1 pixel, got {}", min_region_px));
  VIGIL_CHECK_OPTION(open_radius >= 0, "dense.open_radius",
                     fmt::format("must be >= 0 pixels, got {}", open_radius));
  VIGIL_CHECK_OPTION(close_radius >= 0, "dense.close_radius",
                     fmt::format("must be >= 0 pixels, got {}", close_radius));
}

namespace {

cv::Mat ToGrayFloat(const cv::Mat& image, const char* name) {
  VIGIL_CHECK(!image.empty(), "dense::ScorePair: {} image is empty", name);
  VIGIL_CHECK(image.depth() == CV_8U && (image.channels() == 1 || image.channels() == 3),
              "dense::ScorePair: {} image must be 8-bit gray or BGR, got type {}", name,
              image.type());
  cv::Mat gray = image;
  if (image.channels() == 3) cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  cv::Mat out;
  gray.convertTo(out, CV_32F);
  return out;
}

void Blur(cv::Mat& image, double sigma) {
  if (sigma > 0) cv::GaussianBlur(image, image, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
}

// Local normalisation to (I - mean) / max(std, floor), rescaled by the floor so the result stays
// in grey-level-like units comparable to the global mode.
cv::Mat LocalNormalise(const cv::Mat& image, int radius, double min_std) {
  const cv::Size k(2 * radius + 1, 2 * radius + 1);
  cv::Mat mean, mean_sq;
  cv::boxFilter(image, mean, CV_32F, k, cv::Point(-1, -1), true, cv::BORDER_REPLICATE);
  cv::boxFilter(image.mul(image), mean_sq, CV_32F, k, cv::Point(-1, -1), true,
                cv::BORDER_REPLICATE);
  cv::Mat var = mean_sq - mean.mul(mean);
  cv::max(var, min_std * min_std, var);
  cv::Mat sd;
  cv::sqrt(var, sd);
  cv::Mat out = (image - mean) / sd;
  return out * min_std;
}

// dst(p) = min over |d| <= r of |a(p) - b(p + d)|, b read with replicated borders.
cv::Mat WindowMinAbsDiff(const cv::Mat& a, const cv::Mat& b, int r) {
  cv::Mat padded;
  cv::copyMakeBorder(b, padded, r, r, r, r, cv::BORDER_REPLICATE);
  cv::Mat best(a.size(), CV_32F, cv::Scalar(std::numeric_limits<float>::max()));
  cv::Mat diff;
  for (int dy = -r; dy <= r; ++dy) {
    for (int dx = -r; dx <= r; ++dx) {
      const cv::Mat shifted = padded(cv::Rect(r + dx, r + dy, a.cols, a.rows));
      cv::absdiff(a, shifted, diff);
      cv::min(best, diff, best);
    }
  }
  return best;
}

// Coverage eroded so that the whole +-r window lies inside the warped image (and the image).
cv::Mat WindowValid(const cv::Mat& coverage, int r) {
  cv::Mat valid = coverage.clone();
  if (r == 0) return valid;
  cv::Mat inner = cv::Mat::zeros(coverage.size(), CV_8U);
  if (coverage.cols > 2 * r && coverage.rows > 2 * r)
    inner(cv::Rect(r, r, coverage.cols - 2 * r, coverage.rows - 2 * r)).setTo(255);
  cv::erode(valid, valid, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2 * r + 1, 2 * r + 1)),
            cv::Point(-1, -1), 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  return valid & inner;
}

// Global gain/offset mapping the reference's mean/std over `valid` onto the query's.
std::pair<double, double> GainOffset(const cv::Mat& q, const cv::Mat& warped, const cv::Mat& valid,
                                     const DenseChangeOptions& options) {
  cv::Scalar mq, sq, mr, sr;
  cv::meanStdDev(q, mq, sq, valid);
  cv::meanStdDev(warped, mr, sr, valid);
  double gain = sr[0] > 1e-6 ? sq[0] / sr[0] : 1.0;
  gain = std::clamp(gain, 1.0 / options.max_gain, options.max_gain);
  return {gain, mq[0] - gain * mr[0]};
}

ChangeMap EmptyMap(cv::Size size, cv::Mat valid) {
  ChangeMap map;
  map.valid = valid;
  map.new_score = cv::Mat::zeros(size, CV_32F);
  map.missing_score = cv::Mat::zeros(size, CV_32F);
  return map;
}

// The scoring shared by every registration: `warped` is the reference resampled into the query
// frame (blurred like q), `coverage` where it is defined.
ChangeMap ScoreWarped(cv::Mat q, cv::Mat warped, const cv::Mat& coverage,
                      const DenseChangeOptions& options) {
  const int r = options.window_radius;
  ChangeMap map;
  map.valid = WindowValid(coverage, r);
  if (cv::countNonZero(map.valid) == 0) return EmptyMap(q.size(), map.valid);
  if (options.normalise_radius > 0) {
    q = LocalNormalise(q, options.normalise_radius, options.normalise_min_std);
    warped = LocalNormalise(warped, options.normalise_radius, options.normalise_min_std);
  } else {
    const auto [gain, offset] = GainOffset(q, warped, map.valid, options);
    warped.convertTo(warped, CV_32F, gain, offset);
  }
  map.new_score = WindowMinAbsDiff(q, warped, r);
  map.missing_score = WindowMinAbsDiff(warped, q, r);
  map.new_score.setTo(0, map.valid == 0);
  map.missing_score.setTo(0, map.valid == 0);
  return map;
}

}  // namespace

cv::Mat ChangeMap::Score() const {
  if (new_score.empty()) return cv::Mat();
  cv::Mat score;
  cv::max(new_score, missing_score, score);
  score.setTo(0, valid == 0);
  return score;
}

ChangeMap ScorePair(const cv::Mat& query, const cv::Mat& reference, const cv::Mat& homography,
                    const DenseChangeOptions& options) {
  options.Check();
  cv::Mat q = ToGrayFloat(query, "query");
  cv::Mat ref = ToGrayFloat(reference, "reference");
  cv::Mat h = cv::Mat::eye(3, 3, CV_64F);
  if (!homography.empty()) {
    VIGIL_CHECK(homography.rows == 3 && homography.cols == 3 && homography.channels() == 1,
                "dense::ScorePair: homography must be 3x3, got {}x{}", homography.rows,
                homography.cols);
    homography.convertTo(h, CV_64F);
    VIGIL_CHECK(cv::checkRange(h), "dense::ScorePair: homography has non-finite entries");
  }
  Blur(q, options.blur_sigma);
  Blur(ref, options.blur_sigma);

  // Warp the reference into the query frame (h maps query pixels to reference pixels, which is
  // the inverse map warpPerspective expects) together with its coverage.
  cv::Mat warped, coverage;
  const bool identity = cv::norm(h, cv::Mat::eye(3, 3, CV_64F), cv::NORM_INF) < 1e-12 &&
                        reference.size() == query.size();
  if (identity) {
    warped = ref;
    coverage = cv::Mat(q.size(), CV_8U, cv::Scalar(255));
  } else {
    cv::warpPerspective(ref, warped, h, q.size(), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                        cv::BORDER_REPLICATE);
    cv::warpPerspective(cv::Mat(ref.size(), CV_8U, cv::Scalar(255)), coverage, h, q.size(),
                        cv::INTER_NEAREST | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
                        cv::Scalar(0));
  }
  return ScoreWarped(q, warped, coverage, options);
}

ChangeMap ScoreRegistered(const cv::Mat& query, const cv::Mat& reference,
                          const Registration& registration, const DenseChangeOptions& options) {
  options.Check();
  cv::Mat q = ToGrayFloat(query, "query");
  cv::Mat ref = ToGrayFloat(reference, "reference");
  VIGIL_CHECK(!registration.empty() && registration.query_size() == q.size() &&
                  registration.reference_size == ref.size(),
              "dense::ScoreRegistered: the registration maps {}x{} onto {}x{}, the images are "
              "{}x{} and {}x{}",
              registration.query_size().width, registration.query_size().height,
              registration.reference_size.width, registration.reference_size.height, q.cols,
              q.rows, ref.cols, ref.rows);
  Blur(q, options.blur_sigma);
  Blur(ref, options.blur_sigma);
  return ScoreWarped(q, WarpToQuery(ref, registration), registration.valid, options);
}

ChangeMap ScoreFlowPair(const cv::Mat& query, const cv::Mat& reference, const FlowPair& pair,
                        const DenseChangeOptions& options) {
  options.Check();
  VIGIL_CHECK(options.normalise_radius == 0,
              "option dense.normalise_radius: must be 0 with a flow registration, got {}",
              options.normalise_radius);
  cv::Mat q = ToGrayFloat(query, "query");
  cv::Mat ref = ToGrayFloat(reference, "reference");
  VIGIL_CHECK(!pair.empty() && pair.query_to_reference.query_size() == q.size() &&
                  pair.reference_to_query.query_size() == ref.size() &&
                  pair.query_to_reference_smooth.query_size() == q.size(),
              "dense::ScoreFlowPair: the registrations do not fit a {}x{} query and a {}x{} "
              "reference", q.cols, q.rows, ref.cols, ref.rows);
  Blur(q, options.blur_sigma);
  Blur(ref, options.blur_sigma);
  const int r = options.window_radius;
  ChangeMap map;
  map.valid = WindowValid(pair.query_to_reference.valid & pair.query_to_reference_smooth.valid, r);
  const cv::Mat valid_in_reference = WindowValid(pair.reference_to_query.valid, r);
  if (cv::countNonZero(map.valid) == 0 || cv::countNonZero(valid_in_reference) == 0)
    return EmptyMap(q.size(), cv::Mat::zeros(q.size(), CV_8U));
  cv::Mat warped_reference = WarpToQuery(ref, pair.query_to_reference);
  const auto [gain, offset] = GainOffset(q, warped_reference, map.valid, options);
  warped_reference.convertTo(warped_reference, CV_32F, gain, offset);
  ref.convertTo(ref, CV_32F, gain, offset);
  // "new" in the query frame; "missing" in the reference frame, then carried to the query.
  map.new_score = WindowMinAbsDiff(q, warped_reference, r);
  map.new_score.setTo(0, map.valid == 0);
  cv::Mat missing_in_reference = WindowMinAbsDiff(ref, WarpToQuery(q, pair.reference_to_query), r);
  missing_in_reference.setTo(0, valid_in_reference == 0);
  const Registration& carry = pair.query_to_reference_smooth;
  cv::remap(missing_in_reference, map.missing_score, carry.map_x, carry.map_y, cv::INTER_LINEAR,
            cv::BORDER_CONSTANT, cv::Scalar(0));
  map.missing_score.setTo(0, map.valid == 0);
  return map;
}

ChangeMap MinOverReferences(const std::vector<ChangeMap>& maps) {
  VIGIL_CHECK(!maps.empty(), "dense::MinOverReferences: no maps");
  const cv::Size size = maps[0].valid.size();
  ChangeMap out;
  out.new_score = cv::Mat(size, CV_32F, cv::Scalar(std::numeric_limits<float>::max()));
  out.missing_score = out.new_score.clone();
  out.valid = cv::Mat::zeros(size, CV_8U);
  cv::Mat tmp;
  for (const ChangeMap& m : maps) {
    VIGIL_CHECK(m.valid.size() == size && m.new_score.size() == size &&
                    m.missing_score.size() == size,
                "dense::MinOverReferences: map sizes differ ({}x{} vs {}x{})", m.valid.cols,
                m.valid.rows, size.width, size.height);
    const cv::Mat invalid = m.valid == 0;
    m.new_score.copyTo(tmp);
    tmp.setTo(std::numeric_limits<float>::max(), invalid);
    cv::min(out.new_score, tmp, out.new_score);
    m.missing_score.copyTo(tmp);
    tmp.setTo(std::numeric_limits<float>::max(), invalid);
    cv::min(out.missing_score, tmp, out.missing_score);
    out.valid |= m.valid;
  }
  out.new_score.setTo(0, out.valid == 0);
  out.missing_score.setTo(0, out.valid == 0);
  return out;
}

DenseCalibration CalibrateThreshold(const std::vector<ChangeMap>& clean, double false_alarm_rate) {
  VIGIL_CHECK(false_alarm_rate > 0 && false_alarm_rate < 1,
              "dense::CalibrateThreshold: false_alarm_rate must be in (0, 1), got {}",
              false_alarm_rate);
  std::vector<float> values;
  for (const ChangeMap& m : clean) {
    const cv::Mat score = m.Score();
    for (int y = 0; y < score.rows; ++y) {
      const float* s = score.ptr<float>(y);
      const uint8_t* v = m.valid.ptr<uint8_t>(y);
      for (int x = 0; x < score.cols; ++x)
        if (v[x]) values.push_back(s[x]);
    }
  }
  VIGIL_CHECK(!values.empty(), "dense::CalibrateThreshold: the {} clean maps have no valid pixels",
              clean.size());
  DenseCalibration cal;
  cal.false_alarm_rate = false_alarm_rate;
  cal.num_maps = static_cast<int>(clean.size());
  cal.num_pixels = static_cast<int64_t>(values.size());
  // Smallest t with at most false_alarm_rate of the clean pixels strictly above it.
  const size_t n = values.size();
  size_t k = static_cast<size_t>(std::ceil((1.0 - false_alarm_rate) * static_cast<double>(n)));
  k = std::min(std::max<size_t>(k, 1), n) - 1;
  std::nth_element(values.begin(), values.begin() + k, values.end());
  cal.threshold = values[k];
  return cal;
}

std::vector<DenseRegion> ExtractRegions(const ChangeMap& map, double threshold,
                                        const DenseChangeOptions& options) {
  options.Check();
  std::vector<DenseRegion> regions;
  if (map.valid.empty() || cv::countNonZero(map.valid) == 0) return regions;
  const cv::Mat score = map.Score();
  cv::Mat binary = score > threshold;
  if (options.open_radius > 0) {
    const int k = 2 * options.open_radius + 1;
    cv::morphologyEx(binary, binary, cv::MORPH_OPEN,
                     cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k)));
  }
  if (options.close_radius > 0) {
    const int k = 2 * options.close_radius + 1;
    cv::morphologyEx(binary, binary, cv::MORPH_CLOSE,
                     cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k)));
    binary &= map.valid;
  }
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(binary, labels, stats, centroids, 8, CV_32S);
  for (int i = 1; i < n; ++i) {
    const int area = stats.at<int>(i, cv::CC_STAT_AREA);
    if (area < options.min_region_px) continue;
    DenseRegion region;
    region.bbox = cv::Rect(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                           stats.at<int>(i, cv::CC_STAT_WIDTH),
                           stats.at<int>(i, cv::CC_STAT_HEIGHT));
    region.area_px = area;
    region.mask = labels == i;
    double peak = 0;
    cv::minMaxLoc(score, nullptr, &peak, nullptr, nullptr, region.mask);
    region.score = static_cast<float>(peak);
    cv::Mat m32;
    region.mask(region.bbox).convertTo(m32, CV_32F, 1.0 / 255);
    const double s_new = cv::sum(map.new_score(region.bbox).mul(m32))[0];
    const double s_missing = cv::sum(map.missing_score(region.bbox).mul(m32))[0];
    region.kind = s_new >= s_missing ? "new" : "missing";
    regions.push_back(std::move(region));
  }
  std::sort(regions.begin(), regions.end(),
            [](const DenseRegion& a, const DenseRegion& b) { return a.score > b.score; });
  return regions;
}

cv::Mat SimulateCleanQuery(const cv::Mat& reference) {
  VIGIL_CHECK(!reference.empty(), "SimulateCleanQuery: empty reference image");
  const cv::Mat shift = (cv::Mat_<double>(2, 3) << 1, 0, 0.5, 0, 1, 0.5);
  cv::Mat shifted;
  cv::warpAffine(reference, shifted, shift, reference.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", shifted, jpeg, {cv::IMWRITE_JPEG_QUALITY, 75});
  return cv::imdecode(jpeg, reference.channels() == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
}

DenseCalibration CalibrateOnReferences(const std::vector<cv::Mat>& references,
                                       const DenseChangeOptions& options, double false_alarm_rate) {
  VIGIL_CHECK(!references.empty(), "dense calibration: no reference images");
  std::vector<ChangeMap> clean;
  for (const cv::Mat& reference : references) {
    cv::Mat gray = reference;
    if (gray.channels() == 3) cv::cvtColor(reference, gray, cv::COLOR_BGR2GRAY);
    clean.push_back(ScorePair(SimulateCleanQuery(gray), gray, cv::Mat(), options));
  }
  return CalibrateThreshold(clean, false_alarm_rate);
}

}  // namespace vigil::dense
