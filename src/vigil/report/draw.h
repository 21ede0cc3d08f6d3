// Pictures for people: keypoint overlays, match visualisations and colour scales. Pure functions
// from value types to images (cv::Mat BGR 8-bit); the callers write them with io::WriteImage.
#pragma once

#include <string>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/matching/types.h"

namespace vigil::report {

// Red (0) -> yellow -> green (1): the colour of a confidence in [0, 1] (values are clamped).
cv::Scalar ConfidenceColor(float confidence);

// 3-channel copy of an 8-bit gray, BGR or BGRA image (a copy, so callers can draw on it).
cv::Mat ToBgr(const cv::Mat& image);

// The image with its keypoints as small circles coloured by relative score, and a caption.
cv::Mat DrawKeypoints(const cv::Mat& image, const Features& features);

// Both images side by side (the shorter one padded), each match a line coloured by confidence
// (outliers of geometric verification drawn thin and grey), with a caption.
cv::Mat DrawMatches(const cv::Mat& image0, const cv::Mat& image1, const Features& features0,
                    const Features& features1, const Matches& matches);

// Puts a one-line caption in a dark band on top of the image (in place).
void DrawCaption(cv::Mat& image, const std::string& text);

}  // namespace vigil::report
