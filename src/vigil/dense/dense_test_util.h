// Test-only helper shared by the dense tests and bench_dense.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace vigil::dense::testing_util {

// Smooth random texture (blurred uniform noise, stretched to ~40..215 grey levels), CV_8U.
inline cv::Mat Texture(cv::Size size, uint64_t seed) {
  cv::RNG rng(seed);
  cv::Mat noise(size, CV_32F);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 1);
  cv::GaussianBlur(noise, noise, cv::Size(0, 0), 2.0);
  cv::normalize(noise, noise, 40, 215, cv::NORM_MINMAX);
  cv::Mat out;
  noise.convertTo(out, CV_8U);
  return out;
}

// Quantile q of a CV_32F map over the pixels where mask != 0 (NaN when there are none).
inline double Quantile(const cv::Mat& score, const cv::Mat& mask, double q) {
  std::vector<float> v;
  for (int y = 0; y < score.rows; ++y)
    for (int x = 0; x < score.cols; ++x)
      if (mask.at<uint8_t>(y, x)) v.push_back(score.at<float>(y, x));
  if (v.empty()) return NAN;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace vigil::dense::testing_util
