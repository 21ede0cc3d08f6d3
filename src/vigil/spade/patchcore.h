// PatchCore (Roth et al., CVPR 2022) as an AnomalyDetector; the algorithm and the reference it
// follows are described in detector.h, its options in patchcore_options.h.
#pragma once

#include <memory>

#include "vigil/spade/detector.h"
#include "vigil/spade/patchcore_options.h"

namespace vigil::spade {

// Uses options.patchcore and options.knn.
std::unique_ptr<AnomalyDetector> MakePatchCoreDetector(const AnomalyDetectorOptions& options);

}  // namespace vigil::spade
