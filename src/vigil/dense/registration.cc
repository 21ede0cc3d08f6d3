#include "vigil/dense/registration.h"

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
