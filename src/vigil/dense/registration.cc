#include "vigil/dense/registration.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil::dense {

Registration RegistrationFromHomography(const cv::Mat& homography, cv::Size query_size,
                                        cv::Size reference_size) {
  VIGIL_CHECK(query_size.area() > 0 && reference_size.area() > 0,
              "dense registration: empty image size (query {}x{}, reference {}x{})",
              query_size.width, query_size.height, reference_size.width, reference_size.height);
  cv::Mat h = cv::Mat::eye(3, 3, CV_64F);
  if (!homography.empty()) {
    VIGIL_CHECK(homography.rows == 3 && homography.cols == 3 && homography.channels() == 1,
                "dense registration: homography must be 3x3, got {}x{}", homography.rows,
                homography.cols);
    homography.convertTo(h, CV_64F);
    VIGIL_CHECK(cv::checkRange(h), "dense registration: homography has non-finite entries");
  }
  Registration reg;
  reg.reference_size = reference_size;
  reg.map_x.create(query_size, CV_32F);
  reg.map_y.create(query_size, CV_32F);
  reg.valid.create(query_size, CV_8U);
  const double* m = h.ptr<double>();
  for (int y = 0; y < query_size.height; ++y) {
    float* mx = reg.map_x.ptr<float>(y);
    float* my = reg.map_y.ptr<float>(y);
    uint8_t* v = reg.valid.ptr<uint8_t>(y);
    for (int x = 0; x < query_size.width; ++x) {
      const double w = m[6] * x + m[7] * y + m[8];
      const double rx = (m[0] * x + m[1] * y + m[2]) / w;
      const double ry = (m[3] * x + m[4] * y + m[5]) / w;
      const bool inside = w > 0 && rx >= 0 && ry >= 0 && rx <= reference_size.width - 1 &&
                          ry <= reference_size.height - 1;
      mx[x] = inside ? static_cast<float>(rx) : -1.f;
      my[x] = inside ? static_cast<float>(ry) : -1.f;
      v[x] = inside ? 255 : 0;
    }
  }
  return reg;
}

bool IsIdentity(const Registration& registration) {
  if (registration.empty() || registration.reference_size != registration.query_size())
    return false;
  for (int y = 0; y < registration.map_x.rows; ++y) {
    const float* mx = registration.map_x.ptr<float>(y);
    const float* my = registration.map_y.ptr<float>(y);
    for (int x = 0; x < registration.map_x.cols; ++x)
      if (mx[x] != static_cast<float>(x) || my[x] != static_cast<float>(y)) return false;
  }
  return true;
}

cv::Mat WarpToQuery(const cv::Mat& reference, const Registration& registration) {
  VIGIL_CHECK(!reference.empty() && !registration.empty(), "dense::WarpToQuery: empty input");
  VIGIL_CHECK(reference.size() == registration.reference_size,
              "dense::WarpToQuery: reference is {}x{}, the registration expects {}x{}",
              reference.cols, reference.rows, registration.reference_size.width,
              registration.reference_size.height);
  cv::Mat warped;
  cv::remap(reference, warped, registration.map_x, registration.map_y, cv::INTER_LINEAR,
            cv::BORDER_REPLICATE);
  return warped;
}

}  // namespace vigil::dense

#include <opencv2/video/tracking.hpp>
#include <opencv2/ximgproc/sparse_match_interpolator.hpp>

namespace vigil::dense {

void FlowRegistrationOptions::Check() const {
  VIGIL_CHECK_OPTION(min_matches >= 3, "dense_flow.min_matches",
                     fmt::format("must be >= 3, got {}", min_matches));
  VIGIL_CHECK_OPTION(k >= 3, "dense_flow.k", fmt::format("must be >= 3, got {}", k));
  VIGIL_CHECK_OPTION(sigma > 0, "dense_flow.sigma", fmt::format("must be > 0, got {}", sigma));
  VIGIL_CHECK_OPTION(lambda >= 0 && lambda <= 1000, "dense_flow.lambda",
                     fmt::format("must be in [0, 1000], got {}", lambda));
  VIGIL_CHECK_OPTION(fgs_lambda > 0, "dense_flow.fgs_lambda",
                     fmt::format("must be > 0, got {}", fgs_lambda));
  VIGIL_CHECK_OPTION(fgs_sigma > 0, "dense_flow.fgs_sigma",
                     fmt::format("must be > 0, got {}", fgs_sigma));
  VIGIL_CHECK_OPTION(max_match_error_px > 0, "dense_flow.max_match_error_px",
                     fmt::format("must be > 0 pixels, got {}", max_match_error_px));
  VIGIL_CHECK_OPTION(refine == "dis" || refine == "none", "dense_flow.refine",
                     fmt::format("must be dis or none, got '{}'", refine));
}

namespace {

cv::Mat Gray8(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

// Sets valid and marks outside points, from map_x/map_y. valid is always a new buffer: a
// refined registration starts as a shallow copy of the interpolated one (cv::Mat shares its
// data), and filling the shared buffer gave the interpolated registration the refined one's
// validity (FlowPair's smooth flow, which the deep channel and "missing" use, was so corrupted).
void MarkInside(Registration& reg) {
  reg.valid = cv::Mat(reg.map_x.size(), CV_8U);
  const cv::Size rs = reg.reference_size;
  for (int y = 0; y < reg.map_x.rows; ++y) {
    float* mx = reg.map_x.ptr<float>(y);
    float* my = reg.map_y.ptr<float>(y);
    uint8_t* v = reg.valid.ptr<uint8_t>(y);
    for (int x = 0; x < reg.map_x.cols; ++x) {
      const bool inside = std::isfinite(mx[x]) && std::isfinite(my[x]) && mx[x] >= 0 &&
                          my[x] >= 0 && mx[x] <= rs.width - 1 && my[x] <= rs.height - 1;
      if (!inside) mx[x] = my[x] = -1.f;
      v[x] = inside ? 255 : 0;
    }
  }
}

// DIS flow from the query to the reference warped by `reg`; the query pixel p then sees the
// reference where `reg` maps p + residual(p).
void RefineWithDis(const cv::Mat& query_gray, const cv::Mat& reference_gray, Registration& reg) {
  cv::Mat warped;
  cv::remap(reference_gray, warped, reg.map_x, reg.map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  cv::Ptr<cv::DISOpticalFlow> dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
  cv::Mat residual;
  dis->calc(query_gray, warped, residual);
  cv::Mat at_x(residual.size(), CV_32F), at_y(residual.size(), CV_32F);
  for (int y = 0; y < residual.rows; ++y) {
    const cv::Vec2f* d = residual.ptr<cv::Vec2f>(y);
    float* ax = at_x.ptr<float>(y);
    float* ay = at_y.ptr<float>(y);
    for (int x = 0; x < residual.cols; ++x) {
      ax[x] = x + d[x][0];
      ay[x] = y + d[x][1];
    }
  }
  cv::Mat mx, my;
  cv::remap(reg.map_x, mx, at_x, at_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(-1));
  cv::remap(reg.map_y, my, at_x, at_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(-1));
  // Where the composition reads an outside (-1) value the blend is meaningless: outside.
  cv::Mat outside;
  cv::remap(reg.valid, outside, at_x, at_y, cv::INTER_NEAREST, cv::BORDER_CONSTANT, cv::Scalar(0));
  mx.setTo(-1, outside == 0);
  my.setTo(-1, outside == 0);
  reg.map_x = mx;
  reg.map_y = my;
  MarkInside(reg);
}

}  // namespace

namespace {

void CheckFlowInput(const cv::Mat& query_image, const cv::Mat& reference_image,
                    const std::vector<cv::Point2f>& query_points,
                    const std::vector<cv::Point2f>& reference_points) {
  for (const cv::Mat* image : {&query_image, &reference_image}) {
    VIGIL_CHECK(!image->empty() && image->depth() == CV_8U &&
                    (image->channels() == 1 || image->channels() == 3),
                "dense flow registration: the {} image must be 8-bit gray or BGR",
                image == &query_image ? "query" : "reference");
  }
  VIGIL_CHECK(query_points.size() == reference_points.size(),
              "dense flow registration: {} query points but {} reference points",
              query_points.size(), reference_points.size());
  // The interpolator indexes matches with 16-bit labels.
  VIGIL_CHECK(query_points.size() < 32767, "dense flow registration: {} matches, at most 32766",
              query_points.size());
}

// The EpicFlow interpolation from `from_image`'s points to the other image's, unrefined.
Registration Interpolate(const cv::Mat& from_image, const cv::Mat& to_image,
                         const std::vector<cv::Point2f>& from_points,
                         const std::vector<cv::Point2f>& to_points,
                         const FlowRegistrationOptions& options) {
  cv::Mat bgr = from_image, to_bgr = to_image;
  if (bgr.channels() == 1) cv::cvtColor(from_image, bgr, cv::COLOR_GRAY2BGR);
  // The interpolator drops matches that fall outside `to_image`, so it must be the real one.
  if (to_bgr.channels() == 1) cv::cvtColor(to_image, to_bgr, cv::COLOR_GRAY2BGR);
  // OpenCV's interpolator (4.6) labels each match by its rounded pixel: a second match on the
  // same pixel (SIFT gives one keypoint per orientation at one position) or one rounding outside
  // the image is left without a graph node, its neighbour list stays -1, and the affine fits then
  // index matches[-1] (a segfault, seen with SIFT on changes-freiburg). So only the first match
  // per pixel of the source image is passed.
  std::vector<cv::Point2f> from, to;
  std::vector<uint8_t> taken(static_cast<size_t>(bgr.rows) * bgr.cols, 0);
  for (size_t i = 0; i < from_points.size(); ++i) {
    const int x = static_cast<int>(from_points[i].x + 0.5f), y = static_cast<int>(from_points[i].y + 0.5f);
    if (from_points[i].x < 0 || from_points[i].y < 0 || x >= bgr.cols || y >= bgr.rows) continue;
    uint8_t& t = taken[static_cast<size_t>(y) * bgr.cols + x];
    if (t) continue;
    t = 1;
    from.push_back(from_points[i]);
    to.push_back(to_points[i]);
  }
  if (static_cast<int>(from.size()) < std::max(3, options.min_matches)) return {};
  cv::Ptr<cv::ximgproc::EdgeAwareInterpolator> epic = cv::ximgproc::createEdgeAwareInterpolator();
  // OpenCV's interpolator reads past its neighbour lists when given fewer matches than k.
  epic->setK(std::min(options.k, static_cast<int>(from.size())));
  epic->setSigma(static_cast<float>(options.sigma));
  epic->setLambda(static_cast<float>(options.lambda));
  epic->setUsePostProcessing(options.post_process);
  epic->setFGSLambda(static_cast<float>(options.fgs_lambda));
  epic->setFGSSigma(static_cast<float>(options.fgs_sigma));
  cv::Mat flow;  // CV_32FC2: to point - from point
  epic->interpolate(bgr, from, to_bgr, to, flow);
  Registration reg;
  reg.reference_size = to_image.size();
  reg.map_x.create(bgr.size(), CV_32F);
  reg.map_y.create(bgr.size(), CV_32F);
  for (int y = 0; y < flow.rows; ++y) {
    const cv::Vec2f* f = flow.ptr<cv::Vec2f>(y);
    float* mx = reg.map_x.ptr<float>(y);
    float* my = reg.map_y.ptr<float>(y);
    for (int x = 0; x < flow.cols; ++x) {
      mx[x] = x + f[x][0];
      my[x] = y + f[x][1];
    }
  }
  // OpenCV's interpolator returns zero flow when every match has exactly the same displacement
  // (measured: a pure 3x2 px shift gives 0), and may fail in other ways we have not seen, so the
  // flow must reproduce its own matches: the median error at the match points within
  // max_match_error_px (measured on changes-freiburg: 0.1-3.7 px, median 1.4), else no
  // registration (the caller falls back to a homography) rather than a silently wrong one.
  std::vector<float> errors;
  errors.reserve(from.size());
  for (size_t i = 0; i < from.size(); ++i) {
    const int x = std::clamp(static_cast<int>(std::lround(from[i].x)), 0, flow.cols - 1);
    const int y = std::clamp(static_cast<int>(std::lround(from[i].y)), 0, flow.rows - 1);
    const cv::Vec2f f = flow.at<cv::Vec2f>(y, x);
    errors.push_back(static_cast<float>(cv::norm(to[i] - from[i] - cv::Point2f(f[0], f[1]))));
  }
  std::nth_element(errors.begin(), errors.begin() + static_cast<long>(errors.size() / 2), errors.end());
  if (!(errors[errors.size() / 2] <= options.max_match_error_px)) return {};
  MarkInside(reg);
  return reg;
}

Registration Refined(const cv::Mat& from_image, const cv::Mat& to_image, Registration reg,
                     const FlowRegistrationOptions& options) {
  if (reg.empty()) return reg;
  if (options.refine == "dis") RefineWithDis(Gray8(from_image), Gray8(to_image), reg);
  return reg;
}

}  // namespace

Registration RegistrationFromMatches(const cv::Mat& query_image, const cv::Mat& reference_image,
                                     const std::vector<cv::Point2f>& query_points,
                                     const std::vector<cv::Point2f>& reference_points,
                                     const FlowRegistrationOptions& options) {
  options.Check();
  CheckFlowInput(query_image, reference_image, query_points, reference_points);
  if (static_cast<int>(query_points.size()) < options.min_matches) return {};
  return Refined(query_image, reference_image,
                 Interpolate(query_image, reference_image, query_points, reference_points, options),
                 options);
}

FlowPair FlowPairFromMatches(const cv::Mat& query_image, const cv::Mat& reference_image,
                             const std::vector<cv::Point2f>& query_points,
                             const std::vector<cv::Point2f>& reference_points,
                             const FlowRegistrationOptions& options) {
  options.Check();
  CheckFlowInput(query_image, reference_image, query_points, reference_points);
  FlowPair pair;
  if (static_cast<int>(query_points.size()) < options.min_matches) return pair;
  pair.query_to_reference_smooth =
      Interpolate(query_image, reference_image, query_points, reference_points, options);
  if (pair.query_to_reference_smooth.empty()) return {};
  pair.query_to_reference =
      Refined(query_image, reference_image, pair.query_to_reference_smooth, options);
  pair.reference_to_query = Refined(
      reference_image, query_image,
      Interpolate(reference_image, query_image, reference_points, query_points, options),
      options);
  return pair;
}

}  // namespace vigil::dense
