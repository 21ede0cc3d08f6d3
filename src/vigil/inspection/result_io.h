// Pieces of the per-query JSON that `vigil inspect` writes: the anomaly list and its mask
// encoding. The whole layout is documented once, by FrameResultSchema()
// (inspection/frame_result.h), and a test checks it against real output.
// Masks are run-length encoded like COCO's uncompressed RLE: column-major, counts alternate
// background/foreground starting with background.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/inspection/change_detector.h"

namespace vigil {

// COCO-style uncompressed RLE of a CV_8U mask (non-zero = foreground), and back.
nlohmann::json EncodeMaskRle(const cv::Mat& mask);
cv::Mat DecodeMaskRle(const nlohmann::json& rle);

// Outline of the largest region of a mask (simplified polygon), for people and GIS tools.
std::vector<cv::Point> MaskOutline(const cv::Mat& mask);

// The "anomalies" array of the per-query JSON. Keypoint positions come from `query` for new
// objects and from `reference` for missing ones (in reference pixels, as detected).
nlohmann::json AnomaliesToJson(const std::vector<Anomaly>& anomalies, const Features& query,
                               const Features& reference);

}  // namespace vigil
