// The self-calibration curve as a picture for people (robot change-detection paper, Fig. 5):
// mean match fraction over thresholds with its min-max band over pairs and the knee marked.
// Lives in report/ (pictures for people) rather than calibration/ so the calibration stage has no
// drawing code; report depends on calibration, never the other way round.
#pragma once

#include <filesystem>

#include <opencv2/core.hpp>

#include "vigil/calibration/self_calibration.h"

namespace vigil {

// The curve with its min-max band and the knee marked, axes labelled (like the paper's Fig. 5).
cv::Mat RenderCalibrationPlot(const CalibrationResult& result, int width = 900, int height = 560);
// RenderCalibrationPlot written atomically as PNG.
void WriteCalibrationPlot(const std::filesystem::path& path, const CalibrationResult& result);

}  // namespace vigil
