#include "vigil/report/draw.h"

#include <algorithm>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"

namespace vigil::report {

cv::Scalar ConfidenceColor(float confidence) {
  const float c = std::clamp(confidence, 0.f, 1.f);
  // Linear red -> yellow -> green in BGR.
  const double red = c < 0.5f ? 255.0 : 255.0 * (1.0 - c) * 2.0;
  const double green = c < 0.5f ? 255.0 * c * 2.0 : 255.0;
  return {0.0, green, red};
}

cv::Mat ToBgr(const cv::Mat& image) { return io::ToBgr(image).clone(); }

void DrawCaption(cv::Mat& image, const std::string& text) {
  const int band = std::max(18, image.rows / 24);
  cv::Mat top = image(cv::Rect(0, 0, image.cols, std::min(band, image.rows)));
  top *= 0.35;
  cv::putText(image, text, {6, band - 5}, cv::FONT_HERSHEY_SIMPLEX, band / 34.0,
              cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
}

cv::Mat DrawKeypoints(const cv::Mat& image, const Features& features) {
  cv::Mat canvas = ToBgr(image);
  const float max_score = features.size() > 0 ? features.scores.maxCoeff() : 1.f;
  for (int i = 0; i < features.size(); ++i) {
    const float relative = max_score > 0 ? features.scores(i) / max_score : 1.f;
    cv::circle(canvas, {cvRound(features.keypoints(i, 0)), cvRound(features.keypoints(i, 1))}, 2,
               ConfidenceColor(relative), -1, cv::LINE_AA);
  }
  DrawCaption(canvas, fmt::format("{}: {} keypoints", features.extractor, features.size()));
  return canvas;
}

cv::Mat DrawMatches(const cv::Mat& image0, const cv::Mat& image1, const Features& features0,
                    const Features& features1, const Matches& matches) {
  const cv::Mat a = ToBgr(image0), b = ToBgr(image1);
  constexpr int kGap = 10;
  cv::Mat canvas(std::max(a.rows, b.rows), a.cols + kGap + b.cols, CV_8UC3,
                 cv::Scalar(255, 255, 255));
  a.copyTo(canvas(cv::Rect(0, 0, a.cols, a.rows)));
  b.copyTo(canvas(cv::Rect(a.cols + kGap, 0, b.cols, b.rows)));
  const cv::Point2f offset(static_cast<float>(a.cols + kGap), 0.f);
  int inliers = 0;
  for (size_t i = 0; i < matches.matches0.size(); ++i) {
    const int j = matches.matches0[i];
    if (j < 0) continue;
    const cv::Point2f p0(features0.keypoints(i, 0), features0.keypoints(i, 1));
    const cv::Point2f p1 = cv::Point2f(features1.keypoints(j, 0), features1.keypoints(j, 1)) + offset;
    const bool outlier = !matches.inlier0.empty() && matches.inlier0[i] == 0;
    inliers += !outlier;
    const cv::Scalar color = outlier ? cv::Scalar(160, 160, 160) : ConfidenceColor(matches.confidence0[i]);
    cv::line(canvas, p0, p1, color, outlier ? 1 : 1, cv::LINE_AA);
    cv::circle(canvas, p0, 2, color, -1, cv::LINE_AA);
    cv::circle(canvas, p1, 2, color, -1, cv::LINE_AA);
  }
  std::string caption = fmt::format("{} / {} keypoints, {} matches", features0.size(),
                                    features1.size(), matches.num_matches());
  if (!matches.inlier0.empty()) caption += fmt::format(", {} inliers", inliers);
  DrawCaption(canvas, caption);
  return canvas;
}

}  // namespace vigil::report
