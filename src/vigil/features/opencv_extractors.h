// Weight-free extractors through OpenCV: SIFT (Lowe 2004, with RootSIFT) and ORB (Rublee 2011).
#pragma once

#include <memory>

#include "vigil/features/extractor.h"
#include "vigil/features/opencv_extractors_options.h"

namespace vigil {

std::unique_ptr<FeatureExtractor> CreateSiftExtractor(const FeatureExtractorOptions& options);
std::unique_ptr<FeatureExtractor> CreateOrbExtractor(const FeatureExtractorOptions& options);

}  // namespace vigil
