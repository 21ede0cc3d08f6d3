// Test-only helpers shared by the SPADE tests.
#pragma once

#include <cstdint>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace vigil::spade::testing_util {

// Seeded texture: uniform noise blurred to ~4 px grains, statistically the same at any size and
// after a mild anisotropic resize, so train images of one size describe test images of another.
inline cv::Mat Texture(cv::Size size, uint64_t seed) {
  cv::RNG rng(seed);
  cv::Mat noise(size, CV_8UC1), blurred, bgr;
  rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(noise, blurred, cv::Size(), 2.0);
  cv::normalize(blurred, blurred, 60, 190, cv::NORM_MINMAX);
  cv::cvtColor(blurred, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

}  // namespace vigil::spade::testing_util
