#include "vigil/dense/region_significance.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil::dense {

void RegionTestOptions::Check() const {
  VIGIL_CHECK_OPTION(false_alarm_rate > 0 && false_alarm_rate < 1, "dense_confirm.false_alarm_rate",
                     fmt::format("must be in (0, 1), got {}", false_alarm_rate));
  VIGIL_CHECK_OPTION(min_valid_fraction > 0 && min_valid_fraction <= 1, "dense_confirm.min_valid_fraction",
                     fmt::format("must be in (0, 1], got {}", min_valid_fraction));
  VIGIL_CHECK_OPTION(placement_step > 0 && placement_step <= 1, "dense_confirm.placement_step",
                     fmt::format("must be in (0, 1], got {}", placement_step));
  VIGIL_CHECK_OPTION(null == "frame" || null == "run", "dense_confirm.null",
                     fmt::format("must be frame or run, got '{}'", null));
}

const cv::Mat& ScoreOfKind(const ChangeMap& map, const std::string& kind) {
  VIGIL_CHECK(kind == "new" || kind == "missing", "dense::ScoreOfKind: kind must be new or missing, got '{}'",
              kind);
  return kind == "new" ? map.new_score : map.missing_score;
}

namespace {

// Mean of `score` over the pixels of `shape` (the region's mask cut to its box) placed with its
// top-left corner at `at`, counting only pixels `valid` marks; nothing when fewer than
// min_seen of them are seen.
std::optional<double> MeanAt(const cv::Mat& score, const cv::Mat& valid, const cv::Mat& shape,
                             cv::Point at, int min_seen) {
  const cv::Rect box(at, shape.size());
  const cv::Mat s = score(box), v = valid(box);
  double sum = 0;
  int seen = 0;
  for (int y = 0; y < shape.rows; ++y) {
    const uint8_t* m = shape.ptr<uint8_t>(y);
    const uint8_t* ok = v.ptr<uint8_t>(y);
    const float* p = s.ptr<float>(y);
    for (int x = 0; x < shape.cols; ++x) {
      if (m[x] && ok[x]) {
        sum += p[x];
        ++seen;
      }
    }
  }
  if (seen == 0 || seen < min_seen) return std::nullopt;
  return sum / seen;
}

}  // namespace

RegionTest TestRegion(const ChangeMap& map, const cv::Mat& mask, const std::string& kind,
                      const std::vector<ChangeMap>& nulls, const RegionTestOptions& options) {
  options.Check();
  ScoreOfKind(map, kind);  // names a bad kind before anything else
  VIGIL_CHECK(mask.type() == CV_8U && mask.size() == map.valid.size(),
              "dense::TestRegion: mask must be CV_8U {}x{}, got type {} {}x{}", map.valid.cols,
              map.valid.rows, mask.type(), mask.cols, mask.rows);
  RegionTest test;
  const cv::Rect box = cv::boundingRect(mask);
  if (box.empty()) return test;
  const cv::Mat shape = mask(box) != 0;
  const int area = cv::countNonZero(shape);
  const int min_seen = static_cast<int>(std::ceil(options.min_valid_fraction * area));
  const auto statistic = MeanAt(ScoreOfKind(map, kind), map.valid, shape, box.tl(), min_seen);
  if (!statistic) return test;
  test.statistic = *statistic;

  // Placements: the region's box on a grid over each null map, plus the region's own position
  // (registration error depends on where in the frame a region lies). The step is
  // placement_step of the box size, and at most an eighth of the free range, so that a large
  // region still gets about 80 placements per map.
  int above = 0;
  auto place = [&](const cv::Mat& score, const cv::Mat& valid, cv::Point at) {
    const auto null = MeanAt(score, valid, shape, at, min_seen);
    if (!null) return;
    ++test.null_samples;
    if (*null >= test.statistic) ++above;
  };
  for (const ChangeMap& c : nulls) {
    const cv::Mat& score = ScoreOfKind(c, kind);
    if (score.cols < box.width || score.rows < box.height) continue;
    const int free_x = score.cols - box.width, free_y = score.rows - box.height;
    const int step_x = std::max(1, std::min(static_cast<int>(options.placement_step * box.width), free_x / 8));
    const int step_y = std::max(1, std::min(static_cast<int>(options.placement_step * box.height), free_y / 8));
    for (int y = 0; y <= free_y; y += step_y) {
      for (int x = 0; x <= free_x; x += step_x) place(score, c.valid, {x, y});
    }
    if (box.br().x <= score.cols && box.br().y <= score.rows) place(score, c.valid, box.tl());
  }
  if (test.null_samples == 0) return test;
  test.judged = true;
  test.null_rate = (1.0 + above) / (1.0 + test.null_samples);
  test.significant = test.null_rate <= options.false_alarm_rate;
  return test;
}

}  // namespace vigil::dense
