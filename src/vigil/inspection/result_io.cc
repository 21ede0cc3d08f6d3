#include "vigil/inspection/result_io.h"

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
using nlohmann::json;

json EncodeMaskRle(const cv::Mat& mask) {
  std::vector<int> counts;
  bool current = false;
  int run = 0;
  for (int c = 0; c < mask.cols; ++c) {
    for (int r = 0; r < mask.rows; ++r) {
      const bool value = mask.at<uchar>(r, c) != 0;
      if (value != current) {
        counts.push_back(run);
        run = 0;
        current = value;
      }
      ++run;
    }
  }
  counts.push_back(run);
  return {{"size", {mask.rows, mask.cols}}, {"counts", counts}};
}

cv::Mat DecodeMaskRle(const json& rle) {
  VIGIL_CHECK(rle.contains("size") && rle.contains("counts"), "mask RLE needs 'size' and 'counts'");
  const int rows = rle["size"].at(0).get<int>(), cols = rle["size"].at(1).get<int>();
  VIGIL_CHECK(rows > 0 && cols > 0, "mask RLE has size {}x{}", rows, cols);
  cv::Mat mask = cv::Mat::zeros(rows, cols, CV_8U);
  int64_t position = 0;
  bool value = false;
  for (const auto& count : rle["counts"]) {
    const int64_t n = count.get<int64_t>();
    VIGIL_CHECK(n >= 0 && position + n <= int64_t{rows} * cols, "mask RLE counts exceed its size");
    if (value) {
      for (int64_t k = position; k < position + n; ++k) {
        mask.at<uchar>(static_cast<int>(k % rows), static_cast<int>(k / rows)) = 255;
      }
    }
    position += n;
    value = !value;
  }
  VIGIL_CHECK(position == int64_t{rows} * cols, "mask RLE counts sum to {}, expected {}", position,
              int64_t{rows} * cols);
  return mask;
}

std::vector<cv::Point> MaskOutline(const cv::Mat& mask) {
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  if (contours.empty()) return {};
  const auto largest = std::max_element(
      contours.begin(), contours.end(),
      [](const auto& a, const auto& b) { return cv::contourArea(a) < cv::contourArea(b); });
  std::vector<cv::Point> simplified;
  cv::approxPolyDP(*largest, simplified, 1.5, true);
  return simplified;
}

json AnomaliesToJson(const std::vector<Anomaly>& anomalies, const Features& query,
                     const Features& reference) {
  json list = json::array();
  for (size_t k = 0; k < anomalies.size(); ++k) {
    const Anomaly& a = anomalies[k];
    const Features& source = a.kind == "missing" ? reference : query;
    json points = json::array();
    for (int i : a.keypoints) points.push_back({source.keypoints(i, 0), source.keypoints(i, 1)});
    json polygon = json::array();
    for (const cv::Point& p : MaskOutline(a.mask)) polygon.push_back({p.x, p.y});
    list.push_back({{"id", k},
                    {"kind", a.kind},
                    {"source", a.source},
                    {"label", a.label},
                    {"score", a.score},
                    {"segmenter_score", a.segmenter_score},
                    {"num_unmatched", a.num_unmatched},
                    {"num_matched", a.num_matched},
                    {"bbox", {a.bbox.x, a.bbox.y, a.bbox.width, a.bbox.height}},
                    {"polygon", polygon},
                    {"mask_rle", EncodeMaskRle(a.mask)},
                    {"points", points},
                    {"dense_confirmation", a.dense_null_rate < 0
                                               ? json(nullptr)
                                               : json{{"statistic", a.dense_statistic},
                                                      {"null_rate", a.dense_null_rate}}}});
  }
  return list;
}

}  // namespace vigil
