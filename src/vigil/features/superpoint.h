// SuperPoint (DeTone, Malisiewicz, Rabinovich, CVPRW 2018), as released by the SuperGlue
// authors (magicleap/SuperGluePretrainedNetwork, models/superpoint.py). Reads the official
// superpoint_v1.pth (legacy format) or the same state_dict in the zip format.
#pragma once

#include <memory>

#include "vigil/features/extractor.h"
#include "vigil/features/superpoint_options.h"

namespace vigil {

std::unique_ptr<FeatureExtractor> CreateSuperPointExtractor(const FeatureExtractorOptions& options);

}  // namespace vigil
