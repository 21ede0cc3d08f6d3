// Fit and score on image files: the backbone + detector + memory bank glued together, with
// progress and cancellation, as `vigil spade fit|score` and the evaluation use them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "vigil/spade/backbone.h"
#include "vigil/spade/detector.h"
#include "vigil/spade/memory_bank.h"
#include "vigil/util/progress.h"

namespace vigil::spade {

// The images of a train folder (sorted by name); throws "<dir>: no train images" when empty.
std::vector<std::filesystem::path> ListTrainImages(const std::filesystem::path& dir);

// Runs the backbone on every train image and builds the detector's memory bank.
// `cancel` may be null; `show_progress` draws a progress bar on stderr.
MemoryBank FitMemoryBank(Backbone& backbone, const AnomalyDetectorOptions& options,
                         const std::vector<std::filesystem::path>& train_images, bool show_progress,
                         const CancelToken* cancel);

// A score map at the model input resolution mapped back onto an image of `image_size`:
// bilinear (INTER_LINEAR, half-pixel centres, as anomalib's F.interpolate of the anomaly map to
// the original size), so each map pixel scores the image pixel it came from. No-op when the
// sizes agree.
cv::Mat ScoreMapToImageSize(const cv::Mat& score_map, cv::Size image_size);

// Scores one 8-bit image of any size (`source` names it in errors). The image score is the
// detector's, computed at the model input resolution (SPADE: pooled-vector kNN; PatchCore: max
// patch score, reweighted), so it does not depend on the image's own size; the map is mapped
// back to the image's size (ScoreMapToImageSize).
AnomalyResult ScoreImage(Backbone& backbone, const AnomalyDetector& detector,
                         const MemoryBank& bank, const cv::Mat& image, const std::string& source);

// Reads and scores one image file (ScoreImage); the map has the image's own size.
AnomalyResult ScoreImageFile(Backbone& backbone, const AnomalyDetector& detector,
                             const MemoryBank& bank, const std::filesystem::path& image);

// Detector options for scoring with a loaded bank: `options` with the method forced to the one
// the bank was fitted with.
AnomalyDetectorOptions OptionsForBank(const AnomalyDetectorOptions& options,
                                      const MemoryBank& bank);

}  // namespace vigil::spade
