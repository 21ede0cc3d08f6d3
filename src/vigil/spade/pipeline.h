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

// Reads, checks and scores one image. The result's map is at the model input resolution.
AnomalyResult ScoreImageFile(Backbone& backbone, const AnomalyDetector& detector,
                             const MemoryBank& bank, const std::filesystem::path& image);

// Detector options for scoring with a loaded bank: `options` with the method forced to the one
// the bank was fitted with.
AnomalyDetectorOptions OptionsForBank(const AnomalyDetectorOptions& options,
                                      const MemoryBank& bank);

}  // namespace vigil::spade
