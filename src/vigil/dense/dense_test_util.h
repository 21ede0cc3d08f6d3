// Test-only helper shared by the dense tests and bench_dense.
#pragma once

#include <cstdint>

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

}  // namespace vigil::dense::testing_util
