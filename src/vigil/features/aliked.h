// ALIKED (Zhao et al., "ALIKED: A Lighter Keypoint and Descriptor Extraction Network via
// Deformable Transformation", IEEE TIM 2023), as released by the authors (BSD-3).
#pragma once

#include <memory>

#include "vigil/features/aliked_options.h"
#include "vigil/features/extractor.h"
#include "vigil/io/torch_checkpoint.h"

namespace vigil {

// Reads the authors' checkpoint aliked/<model>.pth (weights search path, or
// options.aliked.weights). Throws vigil::Error naming the file on a checkpoint of another network,
// a missing tensor or a tensor whose shape does not fit the configuration of options.aliked.model.
std::unique_ptr<FeatureExtractor> CreateAlikedExtractor(const FeatureExtractorOptions& options);

// Same, from a state_dict already in memory (e.g. one edited by a test).
std::unique_ptr<FeatureExtractor> CreateAlikedExtractorFromStateDict(
    const AlikedOptions& options, const io::StateDict& state_dict, int num_threads);

}  // namespace vigil
