#include "vigil/inspection/overlap.h"

#include <algorithm>

#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
namespace {

void MatchedPoints(const Features& f0, const Features& f1, const Matches& matches,
                   std::vector<cv::Point2f>* p0, std::vector<cv::Point2f>* p1) {
  for (size_t i = 0; i < matches.matches0.size(); ++i) {
    const int j = matches.matches0[i];
    if (j < 0) continue;
    p0->emplace_back(f0.keypoints(i, 0), f0.keypoints(i, 1));
    p1->emplace_back(f1.keypoints(j, 0), f1.keypoints(j, 1));
  }
}

std::vector<cv::Point> BoxPolygon(const std::vector<cv::Point2f>& points) {
  float x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.x);
    x1 = std::max(x1, p.x);
    y0 = std::min(y0, p.y);
    y1 = std::max(y1, p.y);
  }
  const int l = cvFloor(x0), r = cvCeil(x1), t = cvFloor(y0), b = cvCeil(y1);
  return {{l, t}, {r, t}, {r, b}, {l, b}};
}

std::vector<cv::Point> HullPolygon(const std::vector<cv::Point2f>& points) {
  std::vector<cv::Point2f> hull;
  cv::convexHull(points, hull);
  std::vector<cv::Point> polygon;
  for (const auto& p : hull) polygon.emplace_back(cvRound(p.x), cvRound(p.y));
  return polygon;
}

// The frame of image 1 mapped into image 0 by H (image 1 -> image 0), clipped to image 0.
std::vector<cv::Point> WarpedFramePolygon(const cv::Mat& h, cv::Size size0, cv::Size size1) {
  const std::vector<cv::Point2f> corners = {
      {0.f, 0.f}, {size1.width - 1.f, 0.f}, {size1.width - 1.f, size1.height - 1.f}, {0.f, size1.height - 1.f}};
  std::vector<cv::Point2f> warped;
  cv::perspectiveTransform(corners, warped, h);
  const std::vector<cv::Point2f> frame0 = {
      {0.f, 0.f}, {size0.width - 1.f, 0.f}, {size0.width - 1.f, size0.height - 1.f}, {0.f, size0.height - 1.f}};
  std::vector<cv::Point2f> clipped;
  if (!cv::isContourConvex(warped)) return {};
  cv::intersectConvexConvex(warped, frame0, clipped, true);
  std::vector<cv::Point> polygon;
  for (const auto& p : clipped) polygon.emplace_back(cvRound(p.x), cvRound(p.y));
  return polygon;
}

}  // namespace

void OverlapOptions::Check() const {
  VIGIL_CHECK_OPTION(method == "box" || method == "hull" || method == "homography", "overlap",
                     "must be box, hull or homography");
  VIGIL_CHECK_OPTION(homography_max_error_px > 0, "homography_max_error_px", "must be > 0");
  VIGIL_CHECK_OPTION(min_matches >= 3, "overlap.min_matches", "must be >= 3");
  VIGIL_CHECK_OPTION(margin_fraction >= 0 && margin_fraction < 0.5, "overlap margin",
                     "must be in [0, 0.5)");
}

bool InsideMask(const cv::Mat& mask, float x, float y) {
  const int c = cvRound(x), r = cvRound(y);
  return r >= 0 && c >= 0 && r < mask.rows && c < mask.cols && mask.at<uchar>(r, c) != 0;
}

Overlap ComputeOverlap(const Features& f0, const Features& f1, const Matches& matches,
                       cv::Size size0, cv::Size size1, const OverlapOptions& options) {
  options.Check();
  Overlap overlap;
  overlap.mask = cv::Mat::zeros(size0, CV_8U);
  overlap.method = options.method;
  std::vector<cv::Point2f> p0, p1;
  MatchedPoints(f0, f1, matches, &p0, &p1);
  if (static_cast<int>(p0.size()) < options.min_matches) return overlap;
  if (options.method == "homography") {
    cv::Mat h = cv::findHomography(p1, p0, cv::USAC_MAGSAC, options.homography_max_error_px);
    if (!h.empty()) {
      overlap.polygon = WarpedFramePolygon(h, size0, size1);
      overlap.homography = h;
    }
    if (overlap.polygon.size() < 3) overlap.method = "box";  // degenerate fit: paper's box
  }
  if (overlap.method == "box") overlap.polygon = BoxPolygon(p0);
  if (overlap.method == "hull") overlap.polygon = HullPolygon(p0);
  if (overlap.polygon.size() >= 3) {
    cv::fillConvexPoly(overlap.mask, overlap.polygon, cv::Scalar(255));
    const int margin =
        cvRound(options.margin_fraction * std::min(size0.width, size0.height));
    if (margin > 0) {
      // Erode against the image border too: pad with zeros so the frame edge counts as an edge.
      cv::Mat padded;
      cv::copyMakeBorder(overlap.mask, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
      cv::erode(padded, padded,
                cv::getStructuringElement(cv::MORPH_RECT, {2 * margin + 1, 2 * margin + 1}));
      overlap.mask = padded(cv::Rect(1, 1, size0.width, size0.height)).clone();
    }
  }
  overlap.area_fraction = static_cast<double>(cv::countNonZero(overlap.mask)) / size0.area();
  return overlap;
}

}  // namespace vigil
