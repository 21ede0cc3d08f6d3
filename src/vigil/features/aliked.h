// ALIKED (Zhao et al., "ALIKED: A Lighter Keypoint and Descriptor Extraction Network via
// Deformable Transformation", IEEE TIM 2023), as released by the authors (BSD-3).
#pragma once

#include <memory>

#include "vigil/features/extractor.h"

namespace vigil {

std::unique_ptr<FeatureExtractor> CreateAlikedExtractor(const FeatureExtractorOptions& options);

}  // namespace vigil
